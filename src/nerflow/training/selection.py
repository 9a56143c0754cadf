"""Model selection on dev, shared by the loop's tasks that keep their best evaluation
(tagging, classification): the best score so far, patience, and the checkpoint part."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from nerflow.training.resume import cpu_state


@dataclass
class Selection:
    """The best evaluation so far, and the evaluations since that did not improve on it."""

    best_metric: float = -math.inf
    best_epoch: int = 0
    best_step: int = 0
    bad_evals: int = 0


class SelectsBest:
    """The selection part of a loop task: :meth:`record` an evaluation, stop on
    ``patience`` evaluations without improvement, keep the best weights in checkpoints.
    A subclass sets :attr:`patience` and calls :meth:`start_selection`."""

    patience: int
    selection: Selection
    best_state: dict[str, torch.Tensor] | None

    def start_selection(self, patience: int) -> None:
        self.patience, self.selection, self.best_state = int(patience), Selection(), None

    def record(self, value: float, epoch: int, step: int, evaluated: nn.Module) -> bool:
        """Take an evaluation's score; True when it is the best so far (its weights kept)."""
        s = self.selection
        if value > s.best_metric:
            s.best_metric, s.best_epoch, s.best_step, s.bad_evals = value, epoch, step, 0
            self.best_state = cpu_state(evaluated)
            return True
        s.bad_evals += 1
        return False

    def patience_spent(self) -> bool:
        return self.patience > 0 and self.selection.bad_evals >= self.patience

    def resume_stop(self, loop: Any) -> str:
        return "patience" if self.patience_spent() else ""

    def state_dict(self) -> dict[str, Any]:
        return {"selection": asdict(self.selection), "best_model": self.best_state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.selection = Selection(**state["selection"])
        self.best_state = state["best_model"]

    def best_summary(self) -> dict[str, Any]:
        s = self.selection
        return {
            "best_epoch": s.best_epoch,
            "best_step": s.best_step,
            "best_metric": s.best_metric if math.isfinite(s.best_metric) else None,
        }
