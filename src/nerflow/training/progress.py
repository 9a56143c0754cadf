"""The loop's position and tallies: everything about how far training got that a checkpoint
must carry (:class:`Progress`), and the losses, sentences and seconds summed over steps
(:class:`Tally`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tally:
    """Training losses, sentences and seconds summed over steps."""

    loss_sum: float = 0.0
    steps: int = 0
    sentences: int = 0
    seconds: float = 0.0

    def add(self, loss: float, sentences: int, seconds: float) -> None:
        self.loss_sum += loss
        self.steps += 1
        self.sentences += sentences
        self.seconds += seconds

    def mean_loss(self) -> float | None:
        return self.loss_sum / self.steps if self.steps else None

    def rate(self) -> float | None:
        """Sentences per second of training."""
        return self.sentences / self.seconds if self.seconds else None


@dataclass
class Progress:
    """Everything about the loop's position that a checkpoint must carry."""

    epoch: int = 0  # completed epochs
    step_in_epoch: int = 0  # batches done in the current epoch
    global_step: int = 0
    last_eval_step: int = -1
    period: Tally = field(default_factory=Tally)  # since the last evaluation
    total: Tally = field(default_factory=Tally)
    elapsed_s: float = 0.0
    stop_reason: str = ""
    log_lines: list[dict] = field(default_factory=list)

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Progress:
        """The progress that ``dataclasses.asdict`` turned into ``state``."""
        tallies = {name: Tally(**state[name]) for name in ("period", "total")}
        return cls(**{**state, **tallies})
