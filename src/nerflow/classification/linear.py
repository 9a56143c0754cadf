"""The bag-of-n-grams linear classifier: character n-gram counts, weighted by TF-IDF or by
naive-Bayes log-count ratios (NBSVM, Wang and Manning 2012), into a logistic regression
(scikit-learn). It trains in seconds and is every leaderboard's floor.

A fitted model is plain arrays (vocabulary, weights, coefficients), saved without pickle:
``linear.json`` (settings, labels, vocabulary) and ``linear.npz`` (arrays)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from nerflow.atomic import atomic_output
from nerflow.section import Section, setting

LINEAR_FILES = ("linear.json", "linear.npz")


@dataclass(frozen=True)
class LinearSettings(Section):
    """An experiment of ``kind: linear``."""

    weighting: Literal["tfidf", "nb"] = setting(
        "tfidf",
        description="tfidf: sublinear TF-IDF; nb: binary counts scaled by naive-Bayes "
        "log-count ratios (NBSVM; two classes, else one ratio per class against the rest)",
    )
    ngram_min: int = setting(1, minimum=1, description="shortest character n-gram")
    ngram_max: int = setting(3, minimum=1, description="longest character n-gram")
    min_df: int = setting(1, minimum=1, description="n-grams in fewer train texts are dropped")
    max_features: int = setting(0, minimum=0, description="keep the most frequent (0: all)")
    lowercase: bool = setting(True, description="lowercase before counting (Latin letters)")
    C: float = setting(16.0, minimum=0.0, description="inverse L2 strength of the regression")
    max_iter: int = setting(3000, minimum=1, description="iterations of the lbfgs solver")
    class_weight: Literal["none", "balanced"] = setting(
        "none", description="balanced: weights inversely proportional to class frequency"
    )


@dataclass
class LinearModel:
    """A fitted linear classifier: features ``x`` of a text are its n-gram vector scaled by
    ``weights`` (and, for ``tfidf``, sublinear and L2-normalised); its scores are
    ``x @ coef.T + intercept``."""

    settings: LinearSettings
    labels: list[str]
    vocabulary: list[str]
    weights: np.ndarray  # [n_features]: idf, or the naive-Bayes ratio
    coef: np.ndarray  # [1 or n_labels, n_features]
    intercept: np.ndarray  # [1 or n_labels]

    def _vectorizer(self) -> Any:
        return _count_vectorizer(self.settings, {gram: i for i, gram in enumerate(self.vocabulary)})

    def features(self, texts: Sequence[str]) -> Any:
        return _weigh(self._vectorizer().transform(texts), self.weights, self.settings)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """``[n_texts, n_labels]`` class probabilities (those of scikit-learn's
        ``predict_proba``: the logistic function for two classes, else the softmax)."""
        scores = np.asarray(self.features(texts) @ self.coef.T) + self.intercept
        if scores.shape[1] == 1:
            positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.stack([1.0 - positive, positive], axis=1)
        scores = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def save(self, out_dir: str | Path) -> None:
        out = Path(out_dir)
        meta = {"settings": asdict(self.settings), "labels": self.labels}
        meta["vocabulary"] = self.vocabulary
        with atomic_output(out / LINEAR_FILES[0]) as handle:
            json.dump(meta, handle, ensure_ascii=False)
        with atomic_output(out / LINEAR_FILES[1], "wb") as handle:
            np.savez(handle, weights=self.weights, coef=self.coef, intercept=self.intercept)

    @classmethod
    def load(cls, model_dir: str | Path) -> LinearModel:
        folder = Path(model_dir)
        meta = json.loads((folder / LINEAR_FILES[0]).read_text(encoding="utf-8"))
        with np.load(folder / LINEAR_FILES[1], allow_pickle=False) as arrays:
            weights, coef, intercept = arrays["weights"], arrays["coef"], arrays["intercept"]
        settings = LinearSettings.coerce(meta["settings"])
        return cls(settings, meta["labels"], meta["vocabulary"], weights, coef, intercept)


def _count_vectorizer(settings: LinearSettings, vocabulary: dict[str, int] | None = None) -> Any:
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(
        analyzer="char",
        ngram_range=(settings.ngram_min, settings.ngram_max),
        lowercase=settings.lowercase,
        min_df=1 if vocabulary is not None else settings.min_df,
        max_features=None if vocabulary is not None else (settings.max_features or None),
        binary=settings.weighting == "nb",
        vocabulary=vocabulary,
        dtype=np.float64,
    )


def _weigh(counts: Any, weights: np.ndarray, settings: LinearSettings) -> Any:
    """Counts -> features: ``nb`` scales binary counts by the ratios; ``tfidf`` takes
    ``1 + log(tf)``, multiplies by idf and normalises each row (scikit-learn's
    ``TfidfTransformer(sublinear_tf=True)``)."""
    from sklearn.preprocessing import normalize

    counts = counts.tocsr(copy=True)
    if settings.weighting == "tfidf":
        counts.data = 1.0 + np.log(counts.data)
        return normalize(counts.multiply(weights).tocsr())
    return counts.multiply(weights).tocsr()


def _nb_ratio(counts: Any, y: np.ndarray, positive: int) -> np.ndarray:
    p = 1.0 + np.asarray(counts[y == positive].sum(axis=0)).ravel()
    q = 1.0 + np.asarray(counts[y != positive].sum(axis=0)).ravel()
    return np.log((p / p.sum()) / (q / q.sum()))


def fit_linear(
    texts: Sequence[str], labels: Sequence[str], label_set: Sequence[str], settings: LinearSettings
) -> LinearModel:
    """Fit on ``texts`` with gold ``labels`` (names of ``label_set``). With ``nb`` and more
    than two classes, the naive-Bayes ratio is the largest absolute one-vs-rest ratio of
    each n-gram (one shared feature scaling)."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    index = {label: i for i, label in enumerate(label_set)}
    y = np.array([index[label] for label in labels])
    vectorizer = _count_vectorizer(settings)
    counts = vectorizer.fit_transform(texts)
    if settings.weighting == "tfidf":
        weights = TfidfTransformer(sublinear_tf=True).fit(counts).idf_
    elif len(label_set) == 2:
        weights = _nb_ratio(counts, y, 1)
    else:
        ratios = np.stack([_nb_ratio(counts, y, k) for k in range(len(label_set))])
        weights = ratios[np.abs(ratios).argmax(axis=0), np.arange(ratios.shape[1])]
    regression = LogisticRegression(
        C=settings.C,
        max_iter=settings.max_iter,
        class_weight=None if settings.class_weight == "none" else "balanced",
    )
    regression.fit(_weigh(counts, weights, settings), y)
    coef, intercept = regression.coef_, regression.intercept_
    if len(regression.classes_) != len(label_set):
        coef, intercept = _full_classes(regression, len(label_set))
    vocabulary = [gram for gram, _ in sorted(vectorizer.vocabulary_.items(), key=lambda x: x[1])]
    return LinearModel(settings, list(label_set), vocabulary, weights, coef, intercept)


def _full_classes(regression: Any, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients for every class of the label set when train lacks some (those never
    win: a very low intercept)."""
    classes = list(regression.classes_)
    if len(classes) < 2:
        raise ValueError("train holds a single class: nothing to learn")
    coef = np.zeros((n_labels, regression.coef_.shape[1]))
    intercept = np.full(n_labels, -1e4)
    if len(classes) == 2:  # one row: scores of the second class against the first
        coef[classes[1]], intercept[classes[1]] = regression.coef_[0], regression.intercept_[0]
        intercept[classes[0]] = 0.0
    else:
        coef[classes], intercept[classes] = regression.coef_, regression.intercept_
    return coef, intercept
