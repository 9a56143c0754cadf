"""Ensembles: span-level voting over the predictions of several trained experiments.

Each member predicts the same records; a span ``(start, end, type)`` is kept when at
least ``min_votes`` members predicted it (default: a strict majority). Voting works on
restored character spans, so members may differ in encoder, head, tokenisation or
window size. Members trained with different seeds make different mistakes on rare
entities: on CLUENER dev, a majority vote of three BiLSTM-CRF models scored 0.736 micro
F1 where the members scored 0.715, 0.723 and 0.728.

Flat members (tag heads, span heads decoding ``flat``) give a flat vote under a strict
majority: two overlapping spans would each need more than half of the members, and a flat
member predicts at most one of them. A lower ``min_votes`` (1: the union) can keep both;
``vote(..., flat=True)`` then keeps the non-overlapping subset with the most votes in total
(:func:`nerflow.data.spans.best_flat_spans`, its ties included), so the vote decodes like its
members. Spans are kept by their votes first; flat resolution only removes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from nerflow.data.records import Record
from nerflow.data.spans import best_flat_spans


def majority(n_members: int) -> int:
    """The smallest strict majority of ``n_members`` votes."""
    return n_members // 2 + 1


def vote(
    members: Sequence[Sequence[Record]], min_votes: int | None = None, flat: bool = False
) -> list[Record]:
    """Records with the spans predicted by at least ``min_votes`` members; with ``flat``
    (all members decode flat), overlaps among those resolved by votes (module docstring).

    All members must hold the same records (ids and texts) in the same order; a span a
    member lists twice counts once. Raises ``ValueError`` otherwise.
    """
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
    needed = majority(len(members)) if min_votes is None else int(min_votes)
    if not 1 <= needed <= len(members):
        raise ValueError(f"min_votes must be in [1, {len(members)}], got {needed}")
    sizes = {len(predictions) for predictions in members}
    if len(sizes) != 1:
        raise ValueError(f"members predicted different numbers of records: {sorted(sizes)}")
    out: list[Record] = []
    for line, records in enumerate(zip(*members, strict=True), start=1):
        first = records[0]
        for index, record in enumerate(records[1:], start=1):
            if record.id != first.id or record.text != first.text:
                raise ValueError(
                    f"record {line}: member {index} has id {record.id!r} / another text "
                    f"where member 0 has id {first.id!r}"
                )
        counts = Counter(span for record in records for span in set(record.spans))
        kept = {span: float(n) for span, n in counts.items() if n >= needed}
        spans = best_flat_spans(kept) if flat else sorted(kept)
        out.append(Record(id=first.id, text=first.text, spans=spans))
    return out


def ensemble_summary(
    names: Sequence[str], summaries: Sequence[Mapping[str, Any]], min_votes: int | None
) -> dict[str, Any]:
    """The ``train_summary.json`` of an ensemble from its members' summaries.

    ``train_minutes`` and ``params`` are the members' sums (what the ensemble cost and
    holds); ``members`` keeps each member's own figures.
    """
    if len(names) != len(summaries):
        raise ValueError(f"{len(names)} member names but {len(summaries)} summaries")

    def total(key: str) -> float | int | None:
        values = [summary.get(key) for summary in summaries]
        return sum(values) if all(isinstance(v, int | float) for v in values) else None

    minutes = total("train_minutes")
    devices = sorted({str(summary.get("device")) for summary in summaries})
    return {
        "kind": "ensemble",
        "min_votes": majority(len(names)) if min_votes is None else int(min_votes),
        "train_minutes": round(minutes, 4) if minutes is not None else None,
        "params": total("params"),
        "best_epoch": None,
        "sentences_per_s": None,
        "device": ",".join(devices),
        "members": [
            {
                "name": name,
                **{
                    key: summary.get(key)
                    for key in ("train_minutes", "params", "best_epoch", "best_metric", "device")
                },
            }
            for name, summary in zip(names, summaries, strict=True)
        ],
    }
