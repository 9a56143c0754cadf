"""The loop's position and tallies: everything about how far training got that a checkpoint
must carry (:class:`Progress`), the losses, sentences and seconds summed over steps
(:class:`Tally`), and how progress is shown (:func:`progress_bar`: a bar on a terminal, a
line per tenth of the run in a log)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, TextIO


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


class ProgressLines:
    """The training bar where no terminal shows it (a log file): one plain line at every
    ``step`` share of the planned batches, with the bar's figures, instead of the
    carriage-return fragments a bar leaves in a file. Takes the calls the loop makes of a
    ``tqdm`` bar (:meth:`update`, :meth:`set_postfix`, :meth:`close`)."""

    def __init__(
        self, stream: TextIO, total: int, initial: int = 0, desc: str = "train", step: float = 0.1
    ) -> None:
        self.stream, self.total, self.done, self.desc = stream, max(1, total), initial, desc
        self.every = max(1, round(self.total * step))
        self.postfix: dict[str, Any] = {}
        self.started = time.monotonic()

    def update(self, n: int = 1) -> None:
        before, self.done = self.done, self.done + n
        if self.done // self.every > before // self.every or self.done == self.total:
            self._line()

    def set_postfix(self, **figures: Any) -> None:
        self.postfix = figures

    def _line(self) -> None:
        figures = "".join(f", {key} {value}" for key, value in self.postfix.items())
        elapsed = time.monotonic() - self.started
        print(
            f"{self.desc} {100 * self.done / self.total:.0f}% ({self.done}/{self.total} "
            f"batches, {elapsed:.0f} s){figures}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        """Nothing left to write: every share was written as it was reached."""


def progress_bar(stream: TextIO | None, total: int, initial: int) -> Any:
    """A ``tqdm`` bar on a terminal, :class:`ProgressLines` in a file, nothing without a
    stream (a ``tqdm`` that is disabled)."""
    from tqdm import tqdm

    if stream is not None and not stream.isatty():
        return ProgressLines(stream, total, initial)
    return tqdm(
        total=total,
        initial=initial,
        file=stream,
        disable=stream is None,
        desc="train",
        unit="batch",
        dynamic_ncols=True,
        mininterval=1.0,
    )
