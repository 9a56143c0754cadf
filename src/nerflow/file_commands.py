"""The ``nerflow`` commands that check files: ``validate``, ``check-text`` and ``score``,
with the workflow's own validation, text check and scores (the command line itself, its
parser and the model commands: :mod:`nerflow.cli`).

Exit codes: 0 success; 1 findings (invalid records, text mismatches); 2 usage errors and
inputs that cannot be used (missing file, unreadable line).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from nerflow.data.cluener import read_records
from nerflow.data.labels import LabelFileError, read_labels

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
STDIO = "-"


class UsageError(Exception):
    """A problem with the command line or its inputs (exit code 2)."""


# --------------------------------------------------------------------------- validate


def _labels(values: Sequence[str] | None) -> list[str] | None:
    """``--labels``: type names, or one JSON file (``{"labels": [...]}`` or a list)."""
    if not values:
        return None
    if len(values) == 1 and Path(values[0]).is_file():
        try:
            return read_labels(values[0])
        except LabelFileError as error:
            raise UsageError(str(error)) from None
    return list(values)


def cmd_validate(args: argparse.Namespace) -> int:
    from nerflow.data.rejections import write_rejected
    from nerflow.data.validate import validate_file

    with ExitStack() as stack:
        [(path, name)] = _files([args.file], stack)
        result = validate_file(
            path,
            split=args.split,
            labels=_labels(args.labels),
            overlap_policy=args.overlap_policy,
            require_labels=not args.unlabelled,
            name=name,
        )
    findings = [rejection.format(name) for rejection in result.rejected]
    if not args.json:
        print("\n".join(findings), end="\n" if findings else "")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.rejected:
        write_rejected(args.rejected, result.rejected)
    report = result.report
    if args.json:  # the findings inside the JSON, nothing else on stdout
        found = {"rejections": findings, "warning_lines": result.warnings}
        print(json.dumps({**report, **found}, ensure_ascii=False, indent=2))
    reasons = ", ".join(f"{k}={v}" for k, v in report["rejected_by_reason"].items())
    print(
        f"{name}: {report['lines']} lines, {report['records']} valid records, "
        f"{report['rejected']} rejected{f' ({reasons})' if reasons else ''}, "
        f"{report['entities']} entities of {len(report['labels'])} types",
        file=sys.stderr,
    )
    return EXIT_FINDINGS if result.rejected else EXIT_OK


# --------------------------------------------------------------------------- check-text


def _print_check(report: dict[str, Any]) -> None:
    for example in report["examples"]:
        print(example)
    hidden = report["mismatched_lines"] - len(report["examples"])
    if hidden > 0:
        print(f"... and {hidden} more line(s)")
    reasons = ", ".join(f"{r}={n}" for r, n in report["by_reason"].items() if n)
    print(
        f"{report['predictions']}: {report['mismatched_lines']} mismatched line(s); "
        f"{report['lines_pred']} predicted, {report['lines_source']} in source"
        f"{f' ({reasons})' if reasons else ''}",
        file=sys.stderr,
    )


def _files(paths: Sequence[str], stack: ExitStack) -> list[tuple[str, str]]:
    """``(path to read, name to show)`` of each file argument; ``-`` (one at most) is
    standard input, kept in a temporary file (the commands read files by path, some twice)."""
    if sum(path == STDIO for path in paths) > 1:
        raise UsageError("only one file argument can be - (standard input)")
    files = []
    for path in paths:
        if path == STDIO:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            (folder / "stdin").write_bytes(sys.stdin.buffer.read())
            files.append((str(folder / "stdin"), "<stdin>"))
        elif not Path(path).is_file():
            raise UsageError(f"{path}: no such file")
        else:
            files.append((path, path))
    return files


def _check_text(
    source: tuple[str, str], predictions: tuple[str, str], source_format: str
) -> dict[str, Any]:
    from nerflow.data.textcheck import check_predictions

    return check_predictions(source[0], predictions[0], source_format, (source[1], predictions[1]))


def _clean(report: dict[str, Any], max_mismatches: int) -> bool:
    from nerflow.data.textcheck import TextMismatchError, assert_clean

    try:
        assert_clean(report, max_mismatches)
    except TextMismatchError:
        return False
    return True


def cmd_check_text(args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        source, predictions = _files([args.source, args.predictions], stack)
        report = _check_text(source, predictions, args.format)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print_check(report)
    return EXIT_OK if _clean(report, args.max_mismatches) else EXIT_FINDINGS


# --------------------------------------------------------------------------- score


def cmd_score(args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        return _score_files(args, *_files([args.gold, args.predictions], stack))


def _score_files(
    args: argparse.Namespace, gold_file: tuple[str, str], pred: tuple[str, str]
) -> int:
    """``score`` on the files it was given (``(path, name)``, see :func:`_files`)."""
    from nerflow.data.validate import validate_file
    from nerflow.evaluation.errors import error_rows, write_errors_tsv
    from nerflow.evaluation.scoring import score
    from nerflow.report.leaderboard import scores_text

    report = _check_text(gold_file, pred, "jsonl")
    if not _clean(report, 0):
        if args.json:
            print(json.dumps({"scored": False, "text_check": report}, ensure_ascii=False, indent=2))
        else:
            _print_check(report)
        print("not scored: the predictions do not fit the gold texts", file=sys.stderr)
        return EXIT_FINDINGS
    labels = _labels(args.labels)
    gold = validate_file(
        gold_file[0],
        split="dev",
        labels=labels,
        overlap_policy=args.overlap_policy,
        require_labels=True,
        name=gold_file[1],
    )
    if gold.rejected:
        for rejection in gold.rejected:
            print(rejection.format(gold_file[1]))
        raise UsageError(f"{gold_file[1]}: {len(gold.rejected)} invalid gold record(s)")
    predicted = read_records(pred[0])
    types = labels or gold.report["labels"]
    scores = score(gold.records, predicted, types, report["mismatched_lines"])
    if args.errors:
        write_errors_tsv(args.errors, error_rows(gold.records, predicted))
    print(json.dumps(scores, ensure_ascii=False, indent=2) if args.json else scores_text(scores))
    return EXIT_OK
