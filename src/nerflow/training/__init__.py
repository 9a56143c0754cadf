"""Training: the loop that fine-tuning and pretraining share and the tagger's training.

The loop (:mod:`~nerflow.training.loop`: bucketed batches from
:mod:`~nerflow.training.batching`, AdamW groups from :mod:`~nerflow.nn.optim`, AMP
from :mod:`~nerflow.training.amp`, FGM from :mod:`~nerflow.training.adversarial`,
checkpoints from :mod:`~nerflow.training.resume`), the tensor cache of a training set
(:mod:`~nerflow.training.cache`), the keys of the inputs experiments share
(:mod:`~nerflow.training.input_keys`) and tagger training itself
(:mod:`~nerflow.training.train`).

Layer: above :mod:`nerflow.inference` and :mod:`nerflow.evaluation`, which it runs on dev.
"""
