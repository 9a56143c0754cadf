"""Prediction defaults, in a module without torch so that the command line reads them fast."""

PREDICT_BATCH_SIZE = 64
"""Windows per forward pass when predicting (the workflow's rules, ``nerflow predict``)."""
