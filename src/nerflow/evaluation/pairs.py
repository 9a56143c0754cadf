"""Gold and predicted records paired by id, and what comparing their spans needs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from nerflow.data.records import Record, Span


def align(gold: Sequence[Record], pred: Sequence[Record]) -> list[tuple[Record, Record]]:
    """Pair gold and predicted records by ``id``, in gold order.

    Raises ``ValueError`` naming the ids when ids repeat or the two id sets differ.
    """
    for name, records in (("gold", gold), ("pred", pred)):
        seen: set[int | str] = set()
        repeated: list[int | str] = []
        for record in records:
            if record.id in seen:
                repeated.append(record.id)
            seen.add(record.id)
        if repeated:
            raise ValueError(f"{name} records repeat ids: {show_ids(repeated)}")
    by_id = {record.id: record for record in pred}
    gold_ids = {record.id for record in gold}
    missing = [record.id for record in gold if record.id not in by_id]
    extra = [record.id for record in pred if record.id not in gold_ids]
    if missing or extra:
        raise ValueError(
            "gold and predicted record ids differ: "
            f"{len(missing)} gold ids without prediction {show_ids(missing)}, "
            f"{len(extra)} predicted ids not in gold {show_ids(extra)}"
        )
    return [(record, by_id[record.id]) for record in gold]


def show_ids(ids: Sequence[int | str], limit: int = 10) -> str:
    shown = ", ".join(repr(i) for i in ids[:limit])
    return f"[{shown}{', ...' if len(ids) > limit else ''}]"


def scored_types(types: Sequence[str], pairs: Iterable[tuple[Record, Record]]) -> list[str]:
    """Configured types (in order, deduplicated) followed by any other type seen, sorted."""
    configured = list(dict.fromkeys(types))
    seen = {span.label for g, p in pairs for span in (*g.spans, *p.spans)}
    return configured + sorted(seen - set(configured))


def prediction_text(gold: Record, pred: Record) -> str:
    """The text predicted offsets refer to: the prediction's own, else the gold text."""
    return pred.text or gold.text


def overlap(a: Span, b: Span) -> int:
    return max(0, min(a.end, b.end) - max(a.start, b.start) + 1)
