"""Classification examples, their normalised JSON-lines files and what a task's splits
hold together: the class set (:func:`label_set`) and shared texts (:func:`split_overlap`);
both are also importable from :mod:`nerflow.classification.validate`.

An :class:`Example` is one text with its class label (``None`` only in unlabelled splits).
The validation stage (:mod:`nerflow.classification.validate`) writes the examples it keeps
as JSON lines ``{"id": ..., "text": ..., "label": ...}`` (:func:`write_examples`); later
stages read them back with :func:`read_examples`, which trusts nothing but expects exactly
that shape: any other line is an :class:`ExampleFileError` naming ``file:line``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from nerflow.atomic import atomic_output
from nerflow.errors import UserError
from nerflow.jsonio import json_line

FIELDS = ("id", "text", "label")


class ExampleFileError(UserError):
    """A file of examples that cannot be read as such; the message is ``file:line: reason``."""


class LabelSetError(UserError):
    """The classes of a task cannot be settled (fewer than two, duplicates, strays)."""


@dataclass(frozen=True)
class Example:
    """One classification example: stable id, the text verbatim and its class label."""

    id: int | str
    text: str
    label: str | None  # None only in unlabelled splits

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "label": self.label}


def write_examples(path: str | Path, examples: Iterable[Example]) -> int:
    """Write ``examples`` as normalised JSON lines (whole or not at all); return the count."""
    count = 0
    with atomic_output(path) as handle:
        for example in examples:
            handle.write(json_line(example.to_json()))
            count += 1
    return count


def read_examples(path: str | Path) -> list[Example]:
    """Read a file written by :func:`write_examples`; a malformed line raises
    :class:`ExampleFileError` naming ``file:line``."""
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [_example(path, number, raw) for number, raw in enumerate(lines, start=1)]


def _example(path: str | Path, number: int, raw: bytes) -> Example:
    """The example of one line, or :class:`ExampleFileError` saying what is wrong."""
    where = f"{path}:{number}"
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ExampleFileError(f"{where}: invalid UTF-8 ({error.reason})") from error
    except json.JSONDecodeError as error:
        raise ExampleFileError(f"{where}: not valid JSON: {error.msg}") from error
    if not isinstance(obj, dict) or sorted(obj) != sorted(FIELDS):
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise ExampleFileError(f"{where}: expected an object with keys {list(FIELDS)}, got {keys}")
    example_id, text, label = obj["id"], obj["text"], obj["label"]
    if isinstance(example_id, bool) or not isinstance(example_id, int | str):
        raise ExampleFileError(f"{where}: id must be an integer or a string, not {example_id!r}")
    if not isinstance(text, str):
        raise ExampleFileError(f"{where}: text must be a string, not {text!r}")
    if label is not None and not isinstance(label, str):
        raise ExampleFileError(f"{where}: label must be a string or null, not {label!r}")
    return Example(example_id, text, label)


def label_set(examples: Sequence[Example], configured: Sequence[str] | None) -> list[str]:
    """The classes of a task: ``configured`` as given (order kept), else the sorted
    distinct labels of ``examples``. :class:`LabelSetError` for fewer than two classes,
    duplicated configured ones, or examples labelled outside the configured set."""
    seen = {example.label for example in examples if example.label is not None}
    if configured is None:
        classes = sorted(seen)
    else:
        classes = list(configured)
        repeated = sorted(label for label, n in Counter(classes).items() if n > 1)
        if repeated:
            raise LabelSetError(f"labels {repeated} are configured more than once")
        strays = sorted(seen - set(classes))
        if strays:
            raise LabelSetError(f"examples hold labels {strays} outside the configured {classes}")
    if len(classes) < 2:
        origin = "configured" if configured is not None else "found in the examples"
        raise LabelSetError(f"a classifier needs at least 2 classes, {origin}: {classes}")
    return classes


def text_key(text: str) -> str:
    """What two texts must share to count as the same review: the text, stripped."""
    return text.strip()


def split_overlap(splits: Mapping[str, Sequence[Example]], max_examples: int = 20) -> dict:
    """Texts shared by several splits (leakage), compared exactly after ``strip()``.

    ``texts_in_several_splits``: distinct texts in two or more splits; ``pairs``: per pair
    ``"a&b"`` (mapping order) the distinct texts both hold; ``examples``: up to
    ``max_examples`` of them with their splits; ``duplicates_within``: per split the
    examples repeating an earlier text of that split; ``conflicting_labels``: shared texts
    labelled differently in different splits.
    """
    where: dict[str, dict[str, set[str]]] = {}  # text -> split -> labels seen there
    within: dict[str, int] = {}
    for name, examples in splits.items():
        seen: set[str] = set()
        within[name] = 0
        for example in examples:
            text = text_key(example.text)
            within[name] += text in seen
            seen.add(text)
            labels = where.setdefault(text, {}).setdefault(name, set())
            if example.label is not None:
                labels.add(example.label)
    shared = {text: by_split for text, by_split in where.items() if len(by_split) > 1}
    pairs = {
        f"{a}&{b}": sum(a in by_split and b in by_split for by_split in shared.values())
        for a, b in combinations(splits, 2)
    }
    conflicting = sum(
        sum(bool(labels) for labels in by_split.values()) > 1
        and len(set().union(*by_split.values())) > 1
        for by_split in shared.values()
    )
    return {
        "texts_in_several_splits": len(shared),
        "pairs": pairs,
        "examples": [
            {"text": text, "splits": list(by_split)}
            for text, by_split in list(shared.items())[:max_examples]
        ],
        "duplicates_within": within,
        "conflicting_labels": conflicting,
    }
