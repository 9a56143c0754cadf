"""The torch-free half of each head: its spec (name, own settings, decoder) and the
decoders that turn scores into spans (:mod:`~nerflow.heads.decoder`, one per head file),
with the scheme's transition masks and Viterbi. The ``nn.Module`` halves live in
:mod:`nerflow.models`.

Layer: below config (which reads the specs at parse time), above features.
"""
