"""Sentence classification, the workflow's second task: labelled texts (TSV, CSV or JSON
lines), their validation, the linear and neural classifiers, prediction and scores."""
