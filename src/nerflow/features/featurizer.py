"""Richer character inputs for encoders trained from scratch: the :class:`Featurizer`.

Without pretrained weights a character tagger sees each character through one randomly
initialised embedding; cheap, well-known inputs give it word-level evidence. Each has its
module: character bigrams (:mod:`nerflow.features.bigrams`), lexicon match bits
(:mod:`nerflow.features.lexicon`) and the train-entity gazetteer
(:mod:`nerflow.features.gazetteer`); the
``features`` block that enables them is checked by :mod:`nerflow.features.spec`. The
featurizer combines them with a fourth:

- **Lexicon word embeddings** (``features.lexicon_words``, the SoftLexicon set
  embeddings): per character, the ids of up to ``lexicon_word_k`` matched multi-character
  words in each of its B, M and E sets (:meth:`nerflow.features.lexicon.Lexicon.match_sets`,
  longest first), in a word vocabulary of the lexicon words found in the TRAIN texts
  (``lexicon_word_min_freq``; other lexicon words are ``[UNK]``). The model averages the
  embeddings of each set (``3 * lexicon_word_dim``). Without pretrained word vectors
  these embeddings are learnt from the train set only: they identify frequent words, the
  lexicon bits generalise.

- **LAC** (``lac``, ``lac_scores``, ``lac_hidden``): the word position x tag id, the
  emission scores and the last hidden layer of Baidu's packaged analyser
  (:mod:`nerflow.features.lac_analyser`), from the analyses given to :meth:`Featurizer.use_analyses`
  (the ``analyse`` stage's), else from the analyser itself; and (``lac_encoder``) LAC's
  input id of each character, plus one, for the model's own copy of LAC's encoder
  (:mod:`nerflow.features.lac_encoder`), which is fine-tuned with it.

Features are computed per CHARACTER of the full original text (:meth:`Featurizer.char_features`)
and gathered per token by the token's first character (:meth:`Featurizer.token_features`);
special tokens get zeros (the padding id / no bits). A sliding window therefore sees
exactly the features the full text gives its characters: the bigram at a window edge
still looks at the neighbour outside the window.

Assets: :func:`build_feature_assets` writes ``nerflow_features.json`` (the feature spec),
``bigrams.json`` (the bigram vocabulary, train only), ``lexicon.tsv.gz`` (the lexicon
as ``word<TAB>class``), ``lexicon_words.json`` (the word vocabulary, train only) and
``gazetteer.json`` into a folder (the experiment's tokenizer folder); ``save_model``
copies them into the model folder, so prediction needs nothing else.

What each adds (CLUENER dev micro F1, char BiLSTM-CRF 128/256, 8 epochs or 8 minutes on
one CPU thread, ``bench/ablation.py``): characters only 0.675; + bigrams 0.707; + lexicon
bits 0.707; + both 0.723; + both + lexicon words 0.723 in the same time, ahead at every
epoch (0.723 after 7 epochs vs 0.721). ``bigram_min_freq: 1`` (117k instead of 44k
bigrams) is slower and worse (0.708).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from nerflow.features import lac_analyser as lac
from nerflow.features.bigrams import SPECIALS, UNK_ID, bigram_ids, build_bigram_vocab
from nerflow.features.config import FeatureConfig
from nerflow.features.gazetteer import Gazetteer
from nerflow.features.lac_analyses import Analyses, lac_char_features
from nerflow.features.lexicon import (
    LEXICON_BITS,
    Lexicon,
    jieba_dictionary_path,
    read_word_list,
)
from nerflow.features.matching import lower_chars
from nerflow.features.spec import (
    asset_spec,
    feature_spec,
    features_enabled,
    uses_analyser,
    uses_lac_package,
)

Features = FeatureConfig | Mapping[str, Any] | None
"""A ``features`` block as the entry points take it: the block, a mapping read with its
defaults (:func:`nerflow.features.spec.feature_spec`) or None (no features)."""

SPEC_FILE = "nerflow_features.json"
BIGRAM_FILE = "bigrams.json"
LEXICON_FILE = "lexicon.tsv.gz"
WORDS_FILE = "lexicon_words.json"
GAZETTEER_FILE = "gazetteer.json"
TENSORS = (
    ("bigram", "bigram_ids"),
    ("lexicon", "lexicon_bits"),
    ("lexicon_words", "lexicon_word_ids"),
    ("gazetteer", "gazetteer_bits"),
    ("lac", "lac_ids"),
    ("lac_scores", "lac_scores"),
    ("lac_hidden", "lac_hidden"),
    ("lac_encoder", "lac_tokens"),
)
"""``(features switch, tensor name)`` of each feature, in the order models take them."""


class Featurizer:
    """Computes the per-token feature tensors of one feature spec from its saved assets.

    ``features``: the ``features`` block (:data:`Features`), checked and kept as
    :attr:`spec`, a :class:`~nerflow.features.config.FeatureConfig`.

    Tensor names (the keyword arguments models receive): ``bigram_ids`` (``LongTensor
    [n, 2]``: left and right bigram ids), ``lexicon_bits`` (``LongTensor [n]``) and
    ``lexicon_word_ids`` (``LongTensor [n, 3, lexicon_word_k]``: B, M, E word ids, 0-padded)
    and ``gazetteer_bits`` (``LongTensor [n, n_words]``, see :class:`Gazetteer`),
    ``lac_ids`` (``LongTensor [n]``), ``lac_scores`` (``HalfTensor [n, N_SCORES]``) and
    ``lac_hidden`` (``HalfTensor [n, N_HIDDEN]``, see :mod:`nerflow.features.lac_analyser`) and
    ``lac_tokens`` (``LongTensor [n]``, LAC's input ids plus one; 0 is padding).
    """

    def __init__(
        self,
        features: Features,
        bigram_vocab: list[str] | None = None,
        lexicon: Lexicon | None = None,
        word_vocab: list[str] | None = None,
        gazetteer: Gazetteer | None = None,
    ) -> None:
        self.spec = spec = feature_spec(features)
        if spec.gazetteer and gazetteer is None:
            raise ValueError("gazetteer feature requested without a gazetteer")
        if spec.bigram and bigram_vocab is None:
            raise ValueError("bigram feature requested without a bigram vocabulary")
        uses_lexicon = spec.lexicon or spec.lexicon_words
        if uses_lexicon and lexicon is None:
            raise ValueError("lexicon feature requested without a lexicon")
        if spec.lexicon_words and word_vocab is None:
            raise ValueError("lexicon word feature requested without a word vocabulary")
        self.bigram_vocab = bigram_vocab if spec.bigram else None
        self.bigram_index = {b: i for i, b in enumerate(self.bigram_vocab or [])}
        self.lexicon = lexicon if uses_lexicon else None
        self.word_vocab = word_vocab if spec.lexicon_words else None
        self.word_index = {w: i for i, w in enumerate(self.word_vocab or [])}
        self.gazetteer = gazetteer if spec.gazetteer else None
        self.analyses = Analyses() if uses_analyser(spec) else None
        self.lac_tokens = lac.TokenVocab.load() if spec.lac_encoder else None
        self._fingerprint: str | None = None

    # ------------------------------------------------------------------ sizes

    @property
    def tensor_names(self) -> list[str]:
        return [tensor for switch, tensor in TENSORS if getattr(self.spec, switch)]

    @property
    def bigram_vocab_size(self) -> int:
        return len(self.bigram_vocab or [])

    @property
    def lexicon_bits(self) -> int:
        return LEXICON_BITS if self.spec.lexicon else 0

    @property
    def word_vocab_size(self) -> int:
        return len(self.word_vocab or [])

    @property
    def gazetteer_bits(self) -> int:
        return self.gazetteer.n_bits if self.gazetteer is not None else 0

    # ------------------------------------------------------------------ features

    def use_analyses(self, analyses: Mapping[str, lac.Analysis] | str | Path) -> None:
        """Take LAC's analyses from ``analyses`` (by text key, or the analyse stage's file)
        instead of running the analyser on their texts."""
        if self.analyses is None:
            raise ValueError("analyses given to a featurizer without lac features")
        self.analyses.add(analyses)

    def char_features(
        self, text: str, analysis: lac.Analysis | None = None
    ) -> dict[str, torch.Tensor]:
        """Per-character features of a FULL text: ``{name: tensor [len(text), ...]}``
        (``analysis``: LAC's of ``text``, found or computed when not given)."""
        out: dict[str, torch.Tensor] = {}
        if self.bigram_vocab is not None:
            out["bigram_ids"] = bigram_ids(text, self.bigram_index)
        if self.lexicon is not None:
            matches = self.lexicon.matches(text)
            if self.spec.lexicon:
                bits = self.lexicon.char_bits(text, matches)
                out["lexicon_bits"] = torch.tensor(bits, dtype=torch.long)
            if self.word_vocab is not None:
                out["lexicon_word_ids"] = self._word_ids(self.lexicon.match_sets(text, matches))
        if self.gazetteer is not None:
            out["gazetteer_bits"] = self.gazetteer.char_bits(text)
        if self.analyses is not None:
            analysis = analysis or self.analyses.get([text])[0]
            spec = self.spec
            out.update(lac_char_features(analysis, spec.lac, spec.lac_scores, spec.lac_hidden))
        if self.lac_tokens is not None:
            out["lac_tokens"] = torch.tensor(self.lac_tokens.ids(text), dtype=torch.long) + 1
        return out

    def iter_char_features(self, texts: Iterable[str]) -> Iterator[dict[str, torch.Tensor]]:
        """:meth:`char_features` of each text in order, LAC's analyses taken in batches."""
        iterator = iter(texts)
        while chunk := list(itertools.islice(iterator, 512)):
            analyses = self.analyses.get(chunk) if self.analyses else [None] * len(chunk)
            yield from map(self.char_features, chunk, analyses)

    def _word_ids(self, match_sets: Sequence[Mapping[str, Sequence[str]]]) -> torch.Tensor:
        """``LongTensor [n, 3, lexicon_word_k]``: per character of the text that gave
        ``match_sets`` (:meth:`Lexicon.match_sets`), the vocabulary ids of the longest
        words of its B, M and E sets (ties by word), 0-padded."""
        k = self.spec.lexicon_word_k
        ids = torch.zeros((len(match_sets), 3, k), dtype=torch.long)
        for char, per_position in enumerate(match_sets):
            for row, position in enumerate(("B", "M", "E")):
                chosen = sorted(per_position[position], key=lambda w: (-len(w), w))[:k]
                for slot, word in enumerate(chosen):
                    ids[char, row, slot] = self.word_index.get(word, UNK_ID)
        return ids

    def token_features(
        self, tok: Any, char_feats: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Gather per-character features onto the tokens of ``tok`` (a ``TokenizedText``).

        A token takes the features of its first character; special tokens get zeros.
        """
        special = tok.special or [offset == (0, 0) for offset in tok.offsets]
        index = torch.tensor(
            [
                0 if is_special else int(start)
                for (start, _), is_special in zip(tok.offsets, special, strict=True)
            ],
            dtype=torch.long,
        )
        keep = ~torch.tensor(special, dtype=torch.bool)
        out: dict[str, torch.Tensor] = {}
        for name, values in char_feats.items():
            if values.size(0) == 0:
                shape = (len(tok.offsets), *values.shape[1:])
                out[name] = torch.zeros(shape, dtype=values.dtype)
                continue
            gathered = values[index.clamp(max=values.size(0) - 1)]
            mask = keep.reshape(-1, *([1] * (gathered.ndim - 1)))
            out[name] = torch.where(mask, gathered, torch.zeros_like(gathered))
        return out

    def encode(self, text: str, tok: Any) -> dict[str, torch.Tensor]:
        """``token_features(tok, char_features(text))`` (``tok`` tokenises ``text``)."""
        return self.token_features(tok, self.char_features(text))

    # ------------------------------------------------------------------ io

    def fingerprint(self) -> str:
        """sha256 of the asset spec and of every asset (vocabularies, lexicon, gazetteer)."""
        if self._fingerprint is None:
            digest = hashlib.sha256(json.dumps(asset_spec(self.spec), sort_keys=True).encode())
            digest.update(json.dumps(self.bigram_vocab, ensure_ascii=False).encode())
            if self.lexicon is not None:
                digest.update(self.lexicon.to_bytes())
            if self.word_vocab is not None:
                digest.update(json.dumps(self.word_vocab, ensure_ascii=False).encode())
            if self.gazetteer is not None:
                digest.update(self.gazetteer.to_bytes())
            if uses_lac_package(self.spec):
                digest.update(lac.ANALYSER_SHA256.encode())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        """JSON-able summary stored in cache and model metadata."""
        return {
            "spec": asset_spec(self.spec),
            "fingerprint": self.fingerprint(),
            "bigram_vocab_size": self.bigram_vocab_size,
            "lexicon_words": len(self.lexicon) if self.lexicon is not None else 0,
            "lexicon_bits": self.lexicon_bits,
            "word_vocab_size": self.word_vocab_size,
            "gazetteer_strings": len(self.gazetteer) if self.gazetteer is not None else 0,
            "gazetteer_bits": self.gazetteer_bits,
            **({"analyser": lac.ANALYSER_SHA256} if uses_lac_package(self.spec) else {}),
        }

    def save(self, out_dir: str | Path) -> Path:
        """Write the spec and assets into ``out_dir`` (see the module docstring)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name in (BIGRAM_FILE, LEXICON_FILE, WORDS_FILE, GAZETTEER_FILE):
            (out / name).unlink(missing_ok=True)
        if self.bigram_vocab is not None:
            (out / BIGRAM_FILE).write_text(
                json.dumps(self.bigram_vocab, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        if self.lexicon is not None:
            self.lexicon.save(out / LEXICON_FILE)
        if self.word_vocab is not None:
            (out / WORDS_FILE).write_text(
                json.dumps(self.word_vocab, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        if self.gazetteer is not None:
            (out / GAZETTEER_FILE).write_bytes(self.gazetteer.to_bytes())
        (out / SPEC_FILE).write_text(
            json.dumps(
                {**self.spec.to_dict(), "fingerprint": self.fingerprint()}, indent=2, sort_keys=True
            )
            + "\n",
            encoding="utf-8",
        )
        return out

    @classmethod
    def load(cls, directory: str | Path, features: Features = None) -> Featurizer:
        """Load the assets saved in ``directory``.

        With ``features``, the saved spec must agree with it on every setting the assets
        depend on (``ValueError`` otherwise: rebuild the assets); its other settings (the
        model's ``*_dim`` sizes) are taken from ``features``.
        """
        folder = Path(directory)
        spec_path = folder / SPEC_FILE
        if not spec_path.exists():
            raise FileNotFoundError(
                f"{folder}: no {SPEC_FILE}; build the assets with build_feature_assets"
            )
        saved = json.loads(spec_path.read_text(encoding="utf-8"))
        saved.pop("fingerprint", None)
        spec = feature_spec(saved)
        if features is not None:
            wanted = feature_spec(features)
            if asset_spec(wanted) != asset_spec(spec):
                raise ValueError(
                    f"{folder}: feature assets were built for {asset_spec(spec)}, "
                    f"the experiment wants {asset_spec(wanted)}"
                )
            spec = wanted
        vocab = None
        if spec.bigram:
            vocab = json.loads((folder / BIGRAM_FILE).read_text(encoding="utf-8"))
        lexicon = None
        if spec.lexicon or spec.lexicon_words:
            lexicon = Lexicon.load(folder / LEXICON_FILE, spec.lexicon_max_len)
        words = None
        if spec.lexicon_words:
            words = json.loads((folder / WORDS_FILE).read_text(encoding="utf-8"))
        gazetteer = None
        if spec.gazetteer:
            data = json.loads((folder / GAZETTEER_FILE).read_text(encoding="utf-8"))
            gazetteer = Gazetteer.from_json(data)
        if uses_lac_package(spec):
            lac.verified_folder()  # the installed analyser, its checksums checked
        return cls(spec, vocab, lexicon, words, gazetteer)


# --------------------------------------------------------------------------- assets


def build_featurizer(
    train_texts: Iterable[str],
    features: Features,
    train_records: Sequence[Any] | None = None,
) -> Featurizer:
    """A featurizer whose bigram vocabulary comes from ``train_texts`` (train ONLY).

    The lexicon is ``features.lexicon_path`` (a jieba-format word list) or, by
    default, jieba's own dictionary. The gazetteer needs the annotated ``train_records``
    (:class:`nerflow.data.records.Record`, in file order: it decides the folds).
    """
    spec = feature_spec(features)
    train_texts_list = list(train_texts)
    gazetteer = None
    if spec.gazetteer:
        if train_records is None:
            raise ValueError("the gazetteer feature needs the annotated train records")
        gazetteer = Gazetteer.from_records(
            train_records, spec.gazetteer_folds, spec.gazetteer_min_len, spec.gazetteer_max_len
        )
    vocab = None
    if spec.bigram:
        vocab = build_bigram_vocab(train_texts_list, spec.bigram_min_freq)
    lexicon = None
    words = None
    if spec.lexicon or spec.lexicon_words:
        path = spec.lexicon_path or jieba_dictionary_path()
        lexicon = Lexicon(read_word_list(path, spec.lexicon_max_len), spec.lexicon_max_len)
    if spec.lexicon_words:
        assert lexicon is not None
        words = build_word_vocab(train_texts_list, lexicon, spec.lexicon_word_min_freq)
    return Featurizer(spec, vocab, lexicon, words, gazetteer)


def build_word_vocab(texts: Iterable[str], lexicon: Lexicon, min_freq: int = 1) -> list[str]:
    """``[PAD]``, ``[UNK]``, then the multi-character lexicon words matched in ``texts``
    ``min_freq`` times or more (lower-cased, by frequency)."""
    counts: Counter[str] = Counter()
    for text in texts:
        lowered = lower_chars(text)
        counts.update(lowered[s:e] for s, e, _ in lexicon.matches(text) if e - s >= 2)
    kept = sorted((w for w, n in counts.items() if n >= min_freq), key=lambda w: (-counts[w], w))
    return list(SPECIALS) + [w for w in kept if w not in SPECIALS]


def build_feature_assets(
    train_texts: Iterable[str],
    features: Features,
    out_dir: str | Path,
    train_records: Sequence[Any] | None = None,
) -> Featurizer | None:
    """Build the feature assets of an experiment from the TRAIN texts (and, for the
    gazetteer, the train records) into ``out_dir``.

    The workflow calls it on the experiment's tokenizer folder. No-op (returns None)
    when the ``features`` block enables nothing.
    """
    spec = feature_spec(features)
    if not features_enabled(spec):
        return None
    featurizer = build_featurizer(train_texts, spec, train_records)
    featurizer.save(out_dir)
    return featurizer


def load_featurizer(features: Features, feature_dir: str | Path | None) -> Featurizer | None:
    """The featurizer of a ``features`` block from ``feature_dir`` (None when no features)."""
    spec = feature_spec(features)
    if not features_enabled(spec):
        return None
    if feature_dir is None or not str(feature_dir):
        raise ValueError("features are enabled but no feature_dir holds their assets")
    return Featurizer.load(feature_dir, spec)
