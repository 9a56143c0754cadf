"""The input features, in model order (their tensors, embeddings and settings follow it).

A new feature is one file with an :class:`~nerflow.features.feature.InputFeature` subclass
and one entry here (docs/architecture.md, "Add an input feature").
"""

from nerflow.features import bigrams, gazetteer, lac, lexicon
from nerflow.features.feature import InputFeature

FEATURES: tuple[type[InputFeature], ...] = (
    bigrams.Bigram,
    lexicon.LexiconFeature,
    gazetteer.GazetteerFeature,
    lac.LacFeature,
)
