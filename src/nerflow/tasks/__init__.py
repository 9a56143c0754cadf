"""The tasks the workflow runs (named entity recognition, sentence classification): what
each brings to the workflow and to the command line, and their registry."""
