"""Span-level voting over member predictions, and the ensemble's training summary."""

from __future__ import annotations

import pytest

from nerflow.data.records import Record, Span
from nerflow.inference.ensemble import ensemble_summary, majority, vote
from nerflow.report.leaderboard import describe_encoder

A, B, C = Span(0, 1, "name"), Span(3, 4, "address"), Span(3, 5, "address")


def members(*span_lists: list[list[Span]]) -> list[list[Record]]:
    return [
        [Record(i, "张三在北京市", spans) for i, spans in enumerate(per_record)]
        for per_record in span_lists
    ]


def test_majority_vote_keeps_spans_most_members_predicted() -> None:
    assert [majority(n) for n in (2, 3, 4, 5)] == [2, 2, 3, 3]
    predictions = members([[A, B], []], [[A, C], [A]], [[A, B, B], [A]])
    voted = vote(predictions)
    assert [r.spans for r in voted] == [[A, B], [A]]  # B twice in one member counts once
    assert [r.id for r in voted] == [0, 1] and voted[0].text == "张三在北京市"
    assert [r.spans for r in vote(predictions, 1)] == [[A, B, C], [A]]  # union
    assert [r.spans for r in vote(predictions, 3)] == [[A], []]  # unanimity


def test_vote_rejects_mismatched_members() -> None:
    one = members([[A]])
    with pytest.raises(ValueError, match="at least 2"):
        vote(one)
    with pytest.raises(ValueError, match="min_votes"):
        vote(members([[A]], [[A]]), 3)
    with pytest.raises(ValueError, match="numbers of records"):
        vote([one[0], one[0] + one[0]])
    other = [Record(0, "another text", [A])]
    with pytest.raises(ValueError, match="record 1: member 1"):
        vote([one[0], other])


def test_ensemble_summary_adds_member_costs() -> None:
    summaries = [
        {"train_minutes": 9.5, "params": 100, "best_epoch": 3, "best_metric": 0.7, "device": "cpu"},
        {
            "train_minutes": 9.0,
            "params": 120,
            "best_epoch": 4,
            "best_metric": 0.72,
            "device": "cpu",
        },
        {"train_minutes": 1.5, "params": 80, "best_epoch": 2, "best_metric": 0.6, "device": "cpu"},
    ]
    summary = ensemble_summary(["a", "b", "c"], summaries, None)
    assert summary["train_minutes"] == 20.0 and summary["params"] == 300
    assert summary["min_votes"] == 2 and summary["device"] == "cpu"
    assert [m["name"] for m in summary["members"]] == ["a", "b", "c"]
    assert summary["members"][1]["best_metric"] == 0.72
    assert ensemble_summary(["a", "b"], [{}, {}], 1)["train_minutes"] is None
    with pytest.raises(ValueError, match="summaries"):
        ensemble_summary(["a"], summaries, None)
    assert describe_encoder({"members": ["a", "b", "c"], "min_votes": None}) == "vote 2/3: a, b, c"
