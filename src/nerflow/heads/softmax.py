"""The softmax head's torch-free half: its decoder (each labelled token's best tag) and
its spec. The head itself: :mod:`nerflow.models.softmax`."""

from __future__ import annotations

import numpy as np

from nerflow.heads.decoder import TagDecoder
from nerflow.heads.spec import HeadSpec


class ArgmaxDecoder(TagDecoder):
    """Each labelled token's tag on its own (may break the scheme's rules)."""

    def best_paths(self, emissions: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return emissions.argmax(axis=-1)


class SoftmaxSpec(HeadSpec):
    name = "softmax"
    summary = "each token's tag on its own (cross-entropy, argmax)"
    decoder = ArgmaxDecoder
    head_class = "nerflow.models.softmax:SoftmaxHead"
