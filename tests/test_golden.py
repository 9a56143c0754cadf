"""Behaviour is unchanged: one experiment per head and one MLM pretraining, fixed seed on
CPU, give byte-identical outputs to those recorded in ``fixtures/golden/golden.json``
(see ``tests/golden.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from golden import GOLDEN_FILE, golden_outputs


@pytest.fixture(scope="module")
def outputs(tokenizer_dir: Path) -> dict:
    return json.loads(json.dumps(golden_outputs(tokenizer_dir)))


@pytest.mark.parametrize("head", ["softmax", "crf", "span"])
def test_tagger_outputs_are_unchanged(outputs: dict, head: str) -> None:
    expected = json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))["taggers"][head]
    got = outputs["taggers"][head]
    assert got["predictions"] == expected["predictions"]
    assert got["scores"] == expected["scores"]
    assert got == expected


def test_mlm_pretraining_is_unchanged(outputs: dict) -> None:
    expected = json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))["mlm"]
    assert outputs["mlm"] == expected
