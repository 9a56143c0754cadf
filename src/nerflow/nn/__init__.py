"""Neural building blocks that models, feature embeddings and training share: moving
positions along the sequence axis (:mod:`~nerflow.nn.positions`), bidirectional RNNs over
padded batches (:mod:`~nerflow.nn.rnn`) and AdamW's parameter groups (:mod:`~nerflow.nn.optim`).

Layer: a base layer; imports nothing of nerflow.
"""
