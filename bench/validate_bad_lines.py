"""Validation of a file of bad lines: is every line reported, in bounded time and memory?

Writes a JSON-lines file of ``--lines`` bad lines (every kind of rejection the validator
knows, in turn: broken JSON, invalid UTF-8, schema errors, spans out of range or reversed,
surface mismatches, unknown types, overlaps, duplicate keys and ids), then runs what the
workflow's ``validate_split`` stage runs: :func:`nerflow.data.validate.validate_file`,
:func:`nerflow.data.rejections.write_rejected` and the ``file:line: reason`` list of
:func:`nerflow.data.rejections.check_or_raise`. Prints a table (seconds, lines/s, peak RSS and,
with ``--tracemalloc``, the peak of Python allocations in a second, slower pass) and
writes it as JSON.

Usage (from the repository root)::

    python bench/validate_bad_lines.py                      # 100,000 bad lines
    python bench/validate_bad_lines.py --lines 20000 --tracemalloc
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from nerflow.data.rejections import ValidationError, check_or_raise, write_rejected
from nerflow.data.validate import validate_file

LABELS = ["address", "name", "organization"]
BAD_LINES: list[tuple[str, bytes]] = [
    ("not_json", b'{"text": "\xe5\x8c\x97\xe4\xba\xac", "label": {'),
    ("invalid_utf8", b'{"text": "\xff\xfe", "label": {}}'),
    ("schema", '{"label": {"name": {"叶老桂": [[0, 2]]}}}'.encode()),
    ("schema", b"[1, 2, 3]"),
    ("empty_text", b'{"text": "", "label": {}}'),
    ("span_out_of_range", '{"text": "北京", "label": {"address": {"北京": [[0, 5]]}}}'.encode()),
    ("start_after_end", '{"text": "北京", "label": {"address": {"北京": [[1, 0]]}}}'.encode()),
    ("text_mismatch", '{"text": "北京", "label": {"address": {"上海": [[0, 1]]}}}'.encode()),
    ("unknown_type", '{"text": "北京", "label": {"planet": {"北京": [[0, 1]]}}}'.encode()),
    (
        "overlap",
        '{"text": "北京大学", "label": {"address": {"北京": [[0, 1]]}, '
        '"organization": {"北京大学": [[0, 3]]}}}'.encode(),
    ),
    ("duplicate_key", '{"text": "北京", "text": "上海", "label": {}}'.encode()),
]
"""One line of each kind (``id`` is added per line, duplicates on purpose for its kind)."""


def write_bad_file(path: Path, n_lines: int) -> dict[str, int]:
    """``n_lines`` bad lines cycling through :data:`BAD_LINES` plus duplicate ids; returns
    how many lines of each kind were written."""
    kinds: dict[str, int] = {}
    with open(path, "wb") as handle:
        for number in range(n_lines):
            slot = number % (len(BAD_LINES) + 1)
            if slot == len(BAD_LINES):  # a valid record whose id repeats the previous one's
                kind = "duplicate_id"
                line = f'{{"id": {number - 1}, "text": "北京", "label": {{}}}}'.encode()
            else:
                kind, line = BAD_LINES[slot]
                if line.startswith(b"{") and kind not in ("not_json", "duplicate_key"):
                    line = b'{"id": %d, ' % number + line[1:]
            kinds[kind] = kinds.get(kind, 0) + 1
            handle.write(line + b"\n")
    return kinds


def run_stage(path: Path, rejected_path: Path) -> tuple[int, int, int]:
    """What ``validate_split`` does: validate, write the rejected lines, list the reasons.

    Returns ``(rejected lines, rejected lines written, file:line reasons listed)``."""
    result = validate_file(path, split="train", labels=LABELS, overlap_policy="fail")
    written = write_rejected(rejected_path, result.rejected)
    try:
        check_or_raise(result, path, "fail")
        listed = 0
    except ValidationError as error:
        listed = len(error.errors)
        assert all(
            reason.startswith(f"{path}:{rejection.line}: ")
            for reason, rejection in zip(error.errors, result.rejected, strict=True)
        )
    return len(result.rejected), written, listed


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (``ru_maxrss`` is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000, help="bad lines (100000)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("results/bench/validate_bad_lines.json"),
        help="JSON result (results/bench/validate_bad_lines.json)",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also measure the peak of Python allocations (a second, slower pass)",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "bad.json"
        kinds = write_bad_file(path, args.lines)
        size_mib = path.stat().st_size / 2**20
        rss_before = peak_rss_mib()
        start = time.perf_counter()
        rejected, written, listed = run_stage(path, Path(scratch) / "rejected.jsonl")
        seconds = time.perf_counter() - start
        rss_after = peak_rss_mib()
        traced = None
        if args.tracemalloc:
            tracemalloc.start()
            run_stage(path, Path(scratch) / "rejected2.jsonl")
            traced = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()

    figures = {
        "lines": args.lines,
        "file_mib": round(size_mib, 2),
        "rejected": rejected,
        "rejected_written": written,
        "reasons_listed": listed,
        "all_reported": rejected == written == listed == args.lines,
        "seconds": round(seconds, 3),
        "lines_per_s": round(args.lines / seconds),
        "peak_rss_mib_before": round(rss_before, 1),
        "peak_rss_mib": round(rss_after, 1),
        "rss_growth_mib": round(rss_after - rss_before, 1),
        "tracemalloc_peak_mib": round(traced, 1) if traced is not None else None,
        "kinds": kinds,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    rows = [
        ("bad lines", f"{args.lines:,}"),
        ("file size", f"{size_mib:.1f} MiB"),
        ("rejected / written / listed", f"{rejected:,} / {written:,} / {listed:,}"),
        ("all reported", str(figures["all_reported"])),
        ("seconds", f"{seconds:.2f}"),
        ("lines/s", f"{figures['lines_per_s']:,}"),
        ("peak RSS", f"{rss_after:.0f} MiB (+{rss_after - rss_before:.0f} MiB)"),
    ]
    if traced is not None:
        rows.append(("tracemalloc peak", f"{traced:.0f} MiB"))
    width = max(len(name) for name, _ in rows)
    print(f"| {'measure'.ljust(width)} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    return 0 if figures["all_reported"] else 1


if __name__ == "__main__":
    sys.exit(main())
