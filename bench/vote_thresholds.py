"""How many votes an ensemble should ask for: every ``min_votes`` over the same members.

Issue 11. Reads the members' prediction files (``results/RUN/predictions/dev.json``, as
the workflow wrote them), votes with :func:`nerflow.inference.ensemble.vote` for each ``min_votes``
from 1 (the union) to the number of members (``--flat``: overlaps resolved by votes, as
an ensemble of flat members does) and scores each vote and each member against the gold
records (:func:`nerflow.evaluation.scoring.score`). Nothing is trained or predicted: seconds.

    python bench/vote_thresholds.py results/data/dev.jsonl \\
        results/m1/predictions/dev.json results/m2/predictions/dev.json ... --flat

Writes ``results/bench/vote_thresholds.json`` (``--json-out``) and prints a table.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from benchutil import RESULTS, table, write_result

from nerflow.data.cluener import read_records
from nerflow.data.records import Record, entity_types
from nerflow.evaluation.scoring import score
from nerflow.inference.ensemble import vote

KEYS = ("micro_f1", "precision", "recall", "macro_f1", "address_f1", "scene_f1")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("gold", help="labelled records (the validated dev split)")
    parser.add_argument("members", nargs="+", help="the members' prediction files")
    parser.add_argument("--flat", action="store_true", help="resolve overlaps by votes")
    parser.add_argument("--json-out", default=str(RESULTS / "vote_thresholds.json"))
    return parser.parse_args(argv)


def figures(gold: list[Record], predicted: list[Record], types: list[str]) -> dict[str, Any]:
    result = score(gold, predicted, types)
    per_type = result["per_type"]
    return {
        "micro_f1": result["micro"]["f1"],
        "precision": result["micro"]["precision"],
        "recall": result["micro"]["recall"],
        "macro_f1": result["macro_f1"],
        "address_f1": per_type.get("address", {}).get("f1"),
        "scene_f1": per_type.get("scene", {}).get("f1"),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    gold = read_records(args.gold)
    types = entity_types(gold)
    members = [read_records(path) for path in args.members]
    results: dict[str, dict[str, Any]] = {
        f"member {Path(path).parent.parent.name or path}": figures(gold, predicted, types)
        for path, predicted in zip(args.members, members, strict=True)
    }
    for needed in range(1, len(members) + 1):
        voted = vote(members, needed, flat=args.flat)
        results[f"vote {needed}/{len(members)}"] = figures(gold, voted, types)
    rows = [[name, *(r[key] for key in KEYS)] for name, r in results.items()]
    text = table(["predictions", *KEYS], rows)
    print(text)
    out = {"settings": vars(args), "records": len(gold), "results": results, "table": text}
    print(f"written: {write_result(args.json_out, out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
