"""Flat versus nested decoding of one trained span-head model on labelled records.

Issue 11, item 2. Loads a span model folder (``results/RUN/trained/model``) once and
predicts the same records (CLUENER dev by default, validated as the workflow does) with
each decoding of :mod:`nerflow.models.global_pointer`: ``nested`` (every span scoring
above 0) and ``flat`` (the best non-overlapping spans of each text,
:func:`nerflow.data.spans.best_flat_spans`). For each: strict micro/macro F1 and the CLUE
macro F1 (:func:`nerflow.evaluation.scoring.score`), the predicted spans, overlapping predicted
pairs and the records holding them, and seconds (after one warm-up batch). The model's
own ``span_decoding`` (what ``nerflow predict`` uses) is reported beside them.

``--offsets`` adds a flat decoding per offset ``d``: every span score minus ``d``, so
``d < 0`` lets spans the model scores in ``(d, 0]`` compete (more recall, less precision).
Flat decoding maximises the total score, so without the shift a negative span is never
kept whatever the threshold.

    python bench/flat_decoding.py results/bilstm_gaz_span/trained/model --threads 2

Writes ``results/bench/flat_decoding.json`` (``--json-out``) and prints a table.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from benchutil import DEV, RESULTS, environment, load_split, table, timed, write_result

from nerflow.data.records import Record
from nerflow.data.spans import FLAT, NESTED, nesting
from nerflow.evaluation.scoring import score
from nerflow.inference.predict import Predictor
from nerflow.tensors import resolve_device
from nerflow.text.tagging import label_types

DECODINGS = (NESTED, FLAT)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a trained span-head model folder")
    parser.add_argument("records", nargs="?", default=str(DEV), help="labelled CLUENER file")
    parser.add_argument("--limit", type=int, help="only the first N records")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument(
        "--offsets", type=float, nargs="*", default=[], help="flat decoding with scores - d"
    )
    parser.add_argument("--json-out", default=str(RESULTS / "flat_decoding.json"))
    return parser.parse_args(argv)


def decode(
    predictor: Predictor,
    gold: list[Record],
    decoding: str,
    batch_size: int,
    device: torch.device,
    offset: float = 0.0,
) -> dict[str, Any]:
    """Scores, overlaps and seconds of ``predictor`` on ``gold``'s texts with ``decoding``
    (span scores minus ``offset``)."""
    head = predictor.model.head
    head.set_decoding(decoding)
    scores_of = type(head).scores
    head.scores = lambda outputs, labelled: scores_of(head, outputs, labelled) - offset
    texts = [Record(record.id, record.text) for record in gold]
    try:
        seconds, predicted = timed(lambda: predictor.predict(texts, batch_size), device)
    finally:
        del head.scores
    scores = score(gold, predicted, label_types(predictor.model.labels))
    counts = nesting(record.spans for record in predicted)
    return {
        "offset": offset,
        "micro_f1": scores["micro"]["f1"],
        "macro_f1": scores["macro_f1"],
        "clue_macro_f1": scores["clue_macro_f1"],
        "precision": scores["micro"]["precision"],
        "recall": scores["micro"]["recall"],
        "spans": counts["spans"],
        "overlapping_pairs": counts["overlapping_pairs"],
        "records_with_overlaps": counts["records_with_overlaps"],
        "seconds": round(seconds, 3),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    device = resolve_device(args.device)
    predictor = Predictor.load(args.model, device)
    if predictor.model.head.name != "span":
        raise SystemExit(f"{args.model}: a {predictor.model.head.name} head, not a span head")
    saved = predictor.model.head.settings()["span_decoding"]
    gold = load_split(args.records, "dev")[: args.limit]
    predictor.predict([Record(r.id, r.text) for r in gold[: args.batch_size]], args.batch_size)
    results = {
        decoding: decode(predictor, gold, decoding, args.batch_size, device)
        for decoding in DECODINGS
    }
    for offset in args.offsets:
        results[f"{FLAT} {offset:+g}"] = decode(
            predictor, gold, FLAT, args.batch_size, device, offset
        )
    predictor.model.head.set_decoding(saved)
    keys = ("micro_f1", "precision", "recall", "macro_f1", "clue_macro_f1", "overlapping_pairs")
    rows = [[decoding, *(r[key] for key in (*keys, "seconds"))] for decoding, r in results.items()]
    text = table(["decoding", *keys, "seconds"], rows)
    print(text)
    out = {"environment": environment(device, args.threads), "settings": vars(args)}
    out.update(records=len(gold), model_decoding=saved, decodings=results, table=text)
    out["wall_s"] = round(time.perf_counter() - started, 1)
    print(f"written: {write_result(args.json_out, out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
