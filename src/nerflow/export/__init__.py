"""Exporting a trained model folder to run elsewhere: :mod:`~nerflow.export.onnx`.

Layer: above inference (the export checks itself with both predictors) and models.
"""
