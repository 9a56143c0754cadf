"""The inference paths the benchmarks compare on one model folder and the same texts.

- :func:`capture_batches` / :func:`time_forward`: the model's forward pass alone on the
  very batches nerflow's prediction feeds it (recorded by a hook on the emitter while
  :class:`nerflow.inference.predict.Predictor` predicts), so the forward figure is the limit of
  what prediction can reach;
- :func:`time_predict`: :meth:`nerflow.inference.predict.Predictor.predict` (windows, batching,
  decoding and restoring spans on the original texts);
- :func:`pipeline_tagger` / :func:`time_pipeline`: ``transformers.pipeline(
  "token-classification", aggregation_strategy="simple")`` on the same folder, batched or
  one text at a time;
- :func:`random_model_folder` / :func:`briefly_trained_folder`: a random-init BERT
  tagger saved as a model folder (as is, or after a few training steps), for machines
  without a trained one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from benchutil import timed
from training_loops import bert_experiment, prepared, run_nerflow

from nerflow.data.records import Record, Span, entity_types
from nerflow.inference.predict import Predictor
from nerflow.models.factory import build_model
from nerflow.models.folder import save_model
from nerflow.models.meta import read_model_meta
from nerflow.text.tagging import label_list

Batch = tuple[tuple[Any, ...], dict[str, Any]]


def random_model_folder(
    vocab_tokenizer: Any,
    records: Sequence[Record],
    out: Path,
    layers: int,
    hidden: int,
    heads: int,
    max_len: int = 128,
    seed: int = 42,
) -> Path:
    """A random-init softmax BERT tagger of the given shape over the entity types of
    ``records``, saved with :func:`nerflow.models.folder.save_model` into ``out``."""
    exp = bert_experiment(layers, hidden, heads, 4 * hidden, "softmax", max_len)
    labels = label_list(entity_types(records), exp.scheme)
    torch.manual_seed(seed)
    model = build_model(exp, labels, vocab_tokenizer)
    meta = {"tokenization": exp.tokenization, "max_len": max_len, "stride": exp.stride}
    return save_model(model, out, vocab_tokenizer, meta)


def briefly_trained_folder(
    vocab_tokenizer: Any,
    train_records: list[Record],
    dev: list[Record],
    out: Path,
    shape: tuple[int, int, int],
    steps: int,
    device: torch.device,
    threads: int,
) -> Path:
    """The same softmax BERT after ``steps`` steps of nerflow's loop: its predictions
    look like a real model's (mostly ``O``), unlike a random one's (an entity on nearly
    every character), so restoring spans costs what it costs in use."""
    layers, hidden, heads = shape
    exp = bert_experiment(layers, hidden, heads, 4 * hidden, "softmax", 128)
    out.mkdir(parents=True, exist_ok=True)
    setup = prepared("bert", exp, vocab_tokenizer, train_records, dev, steps, out)
    run_nerflow(setup, device, "off", threads, keep=out)
    return out / "model"


def capture_batches(predictor: Predictor, records: Sequence[Record], batch_size: int) -> list:
    """The ``(args, kwargs)`` of every emitter call while ``predictor`` predicts ``records``."""
    calls: list[Batch] = []

    def record(_module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        calls.append((args, dict(kwargs)))

    handle = predictor.model.emitter.register_forward_pre_hook(record, with_kwargs=True)
    try:
        predictor.predict(records, batch_size)
    finally:
        handle.remove()
    return calls


def time_forward(predictor: Predictor, batches: Sequence[Batch], device: torch.device) -> float:
    """Seconds of the emitter's forward pass over ``batches`` (inference mode)."""
    emitter = predictor.model.emitter

    def forward() -> None:
        with torch.inference_mode():
            for args, kwargs in batches:
                emitter(*args, **kwargs)

    return timed(forward, device)[0]


def time_predict(
    predictor: Predictor, records: Sequence[Record], batch_size: int, device: torch.device
) -> tuple[float, list[Record]]:
    return timed(lambda: predictor.predict(records, batch_size), device)


def transformers_folder(model_dir: str | Path) -> bool:
    """Whether a model folder holds a transformers model the pipeline can load."""
    meta = read_model_meta(Path(model_dir))
    return meta.emitter == "transformers" and meta.head != "span"


def pipeline_tagger(model_dir: str | Path, device: torch.device) -> Any:
    from transformers import pipeline

    return pipeline(
        "token-classification",
        model=str(model_dir),
        aggregation_strategy="simple",
        device=device,
    )


def as_records(records: Sequence[Record], outputs: Sequence[Sequence[dict]]) -> list[Record]:
    """Pipeline entities as records (``end`` inclusive, as nerflow's spans)."""
    return [
        Record(
            record.id,
            record.text,
            sorted({Span(e["start"], e["end"] - 1, e["entity_group"]) for e in entities}),
        )
        for record, entities in zip(records, outputs, strict=True)
    ]


def time_pipeline(
    tagger: Any, records: Sequence[Record], batch_size: int | None, device: torch.device
) -> tuple[float, list[Record]]:
    """Seconds and records of the pipeline over ``records``: batched, or one call per
    text when ``batch_size`` is None (what the original scripts did)."""
    texts = [record.text for record in records]

    def run() -> list:
        if batch_size is None:
            return [tagger(text) for text in texts]
        return list(tagger(texts, batch_size=batch_size))

    seconds, outputs = timed(run, device)
    return seconds, as_records(records, outputs)


def identical(ours: Sequence[Record], theirs: Sequence[Record]) -> int:
    """Records with the same spans, after checking both tagged the same texts in order."""
    if [r.text for r in ours] != [r.text for r in theirs]:
        raise RuntimeError("nerflow and the pipeline did not tag the same texts")
    return sum(a.spans == b.spans for a, b in zip(ours, theirs, strict=True))
