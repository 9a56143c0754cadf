"""Data: what the workflow reads and writes as records.

The record types (:mod:`~nerflow.data.records`), CLUENER JSON-lines files
(:mod:`~nerflow.data.cluener`), the span checks and the overlap policy
(:mod:`~nerflow.data.spans`), validation of raw files (:mod:`~nerflow.data.validate`),
texts users give to tag (:mod:`~nerflow.data.user_texts`), the check of a prediction file
against its source texts (:mod:`~nerflow.data.textcheck`), the download of CLUENER
(:mod:`~nerflow.data.download`) and the CLUENER submission file
(:mod:`~nerflow.data.submission`).

Layer: above the base modules only; nothing here knows about tokens, tensors or models.
"""
