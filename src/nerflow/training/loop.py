"""The training loop that tagger fine-tuning and masked-LM pretraining share.

A :class:`Task` adapter (:class:`nerflow.training.train.TaggingTask`,
:class:`nerflow.pretraining.pretrain.MaskedLMTask`) says what the loss of a batch is, how the model
is
evaluated and what else a checkpoint must carry; :class:`Loop` does the rest:

- AdamW over the task's parameter groups (fused kernel on CUDA and CPU) with transformers' linear
  schedule: ``round(warmup_ratio * total)`` warmup steps, then a linear decay to 0 at
  ``total = epochs * batches_per_epoch`` (the plan also when ``max_minutes`` stops early).
- Autocast in the dtype of :func:`resolve_amp`, a gradient scaler for fp16, gradient
  clipping (``grad_clip`` > 0) and, with ``ema_decay`` > 0, an exponential moving average
  of the weights (:func:`averaged_model`) updated after every step; the average is what
  gets evaluated, the raw weights keep training. With ``fgm_epsilon`` > 0 every step adds
  the gradient of an adversarial copy of the batch (:mod:`nerflow.training.adversarial`).
- Length-bucketed batches (:func:`nerflow.training.batching.make_batches`): each epoch's batch
  order depends only on the seed and the epoch number.
- Evaluation every ``eval_every_steps`` steps, or at the end of every epoch when that is
  0 (a task with ``evaluate_every_epoch`` evaluates at epoch ends in either case), after
  the last step if that step was not evaluated, and when the time budget
  (``max_minutes``, 0: none) runs out. An evaluation may stop the run (patience). Each
  appends the task's JSON line to the log.
- Checkpoints after every evaluation and at the end of every epoch
  (:func:`nerflow.training.resume.write_checkpoint`). :meth:`Loop.resume` continues from a
  checkpoint with the task's fingerprint, skipping the batches of the current epoch
  already done: on the same device and threads the run ends with the weights of a run
  never interrupted.

Stop reasons: ``patience``, ``time_budget``, ``completed``.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol, TextIO

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from nerflow.training.adversarial import fgm_perturbation, input_embeddings
from nerflow.training.amp import autocast
from nerflow.training.batching import make_batches
from nerflow.training.progress import Progress, Tally, progress_bar
from nerflow.training.resume import (
    CHECKPOINT_FILE,
    cpu_state,
    load_checkpoint,
    set_rng_state,
    write_checkpoint,
)


def averaged_model(model: nn.Module, decay: float, shared: Sequence[str] = ()) -> AveragedModel:
    """An exponential moving average of ``model``'s weights (``torch.optim.swa_utils``).

    The plain attributes named in ``shared`` (a featurizer holding a lexicon) are shared
    with the average, not deep-copied.
    """
    kept = {name: getattr(model, name) for name in shared}
    for name in kept:
        setattr(model, name, None)
    try:
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))
    finally:
        for name, value in kept.items():
            setattr(model, name, value)
    for name, value in kept.items():
        setattr(ema.module, name, value)
    return ema


@dataclass(frozen=True)
class LoopSettings:
    """The loop's settings, as a task's config spells them."""

    epochs: int
    batch_size: int
    seed: int
    warmup_ratio: float
    grad_clip: float
    eval_every_steps: int = 0
    max_minutes: float = 0.0
    ema_decay: float = 0.0
    fgm_epsilon: float = 0.0

    @classmethod
    def from_config(cls, config: Any) -> LoopSettings:
        """The settings of a tagger's ``train`` block or of a pretraining run (a block without
        ``ema_decay`` or ``fgm_epsilon`` has neither). Read by name, so the loop does not
        import the blocks: editing a training default leaves pretraining fresh."""
        casts = {"int": int, "float": float}
        return cls(
            **{
                field.name: casts[str(field.type)](getattr(config, field.name, field.default))
                for field in fields(cls)
            }
        )


class Task(Protocol):
    """What :class:`Loop` trains. ``lengths``: one per training example (batches are lists
    of their indices); ``fingerprint``: what a checkpoint may be resumed into;
    ``ema_shared``: see :func:`averaged_model`; ``finite_loss_required``: a non-finite
    loss raises ``FloatingPointError``."""

    model: nn.Module
    lengths: Sequence[int]
    fingerprint: str
    evaluate_every_epoch: bool
    finite_loss_required: bool
    ema_shared: tuple[str, ...]

    def param_groups(self) -> list[dict[str, Any]]:
        """AdamW parameter groups (each with its ``lr`` and ``name``)."""
        ...

    def loss(self, batch: list[int]) -> torch.Tensor:
        """The loss of the examples ``batch`` (the loop runs it under autocast)."""
        ...

    def evaluate(self, loop: Loop) -> tuple[dict[str, Any], bool]:
        """The log line of an evaluation of ``loop.evaluated_model``, and whether to stop."""
        ...

    def resume_stop(self, loop: Loop) -> str:
        """The stop reason of a resumed run under the current settings ("" to go on)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """The task's own part of a checkpoint."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        ...

    def say(self, message: str) -> None:
        """Report progress (resumption)."""
        ...

    def warn(self, message: str) -> None:
        """Report a problem that does not stop the run (an ignored checkpoint)."""
        ...


class Loop:
    """One training run of ``task``; :meth:`resume`, then :meth:`run`."""

    def __init__(
        self,
        task: Task,
        settings: LoopSettings,
        device: torch.device,
        amp_dtype: torch.dtype | None,
        checkpoint_dir: str | Path,
        log_path: str | Path | None = None,
        stream: TextIO | None = None,
        on_checkpoint: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        from transformers import get_linear_schedule_with_warmup

        self.task, self.settings, self.model = task, settings, task.model
        self.device, self.amp_dtype = device, amp_dtype
        self.checkpoint_dir = Path(checkpoint_dir)
        self.log_path = Path(log_path) if log_path is not None else None
        self.stream, self.on_checkpoint = stream, on_checkpoint
        self.lengths = list(task.lengths)
        self.batches_per_epoch = len(make_batches(self.lengths, settings.batch_size, 0, 0))
        self.total_steps = max(1, settings.epochs * self.batches_per_epoch)
        self.optimizer = torch.optim.AdamW(
            task.param_groups(), fused=device.type in ("cuda", "cpu")
        )
        warmup = int(round(settings.warmup_ratio * self.total_steps))
        self.scheduler = get_linear_schedule_with_warmup(self.optimizer, warmup, self.total_steps)
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
        self.ema = (
            averaged_model(self.model, settings.ema_decay, task.ema_shared)
            if settings.ema_decay > 0
            else None
        )
        self.adversarial = input_embeddings(self.model) if settings.fgm_epsilon > 0 else []
        if settings.fgm_epsilon > 0 and not self.adversarial:
            raise ValueError("train.fgm_epsilon > 0 needs a model with a trainable embedding table")
        self.progress = Progress()
        self.resumed_from: dict[str, int] | None = None
        self.run_start = time.perf_counter()
        self.elapsed_before = 0.0

    # ------------------------------------------------------------------ what tasks read

    @property
    def evaluated_model(self) -> nn.Module:
        """The model evaluations look at: the moving average if there is one."""
        return self.ema.module if self.ema is not None else self.model

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        return autocast(self.device, self.amp_dtype)

    def elapsed(self) -> float:
        """Seconds of this run, those before its resumption included."""
        return self.elapsed_before + time.perf_counter() - self.run_start

    def out_of_time(self) -> bool:
        budget = self.settings.max_minutes
        return budget > 0 and self.elapsed() >= 60.0 * budget

    def current_epoch(self) -> int:
        """The epoch under way (1-based), or the last one done at an epoch's end."""
        p = self.progress
        return p.epoch + 1 if p.step_in_epoch else max(p.epoch, 1)

    def log_line(self, scores: dict[str, Any], improved: bool, **rates: float) -> dict[str, Any]:
        """An evaluation's log line: where the run is, its ``scores``, the learning rates
        (encoder, head and ``rates``), its speed, and whether it is the best so far."""
        p = self.progress
        return {
            "epoch": self.current_epoch(),
            "step": p.global_step,
            "loss": p.period.mean_loss(),
            **scores,
            "lr": self.group_lr("encoder"),
            "head_lr": self.group_lr("head"),
            **rates,
            "sentences_per_s": p.period.rate(),
            "elapsed_s": round(self.elapsed(), 3),
            "best": improved,
        }

    def group_lr(self, name: str) -> float | None:
        """Current learning rate of the first parameter group whose name starts with ``name``."""
        for group in self.optimizer.param_groups:
            if str(group.get("name", "")).startswith(name):
                return float(group["lr"])
        return None

    # ------------------------------------------------------------------ checkpoints

    def resume(self) -> None:
        """Continue from the checkpoint of ``checkpoint_dir`` if it has the task's fingerprint."""
        state = load_checkpoint(self.checkpoint_dir, self.task.fingerprint, self.task.warn)
        if state is None:
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.task.load_state_dict(state["task"])
        set_rng_state(state["rng"])
        p = self.progress = Progress.from_dict(state["progress"])
        self.elapsed_before = p.elapsed_s
        self.resumed_from = {
            "epoch": p.epoch,
            "step_in_epoch": p.step_in_epoch,
            "global_step": p.global_step,
        }
        self.task.say(
            f"resuming from {self.checkpoint_dir / CHECKPOINT_FILE}: "
            f"{p.epoch} epoch(s) done, step {p.global_step}"
        )
        # a stop is re-decided with the current settings (patience/max_minutes may differ)
        p.stop_reason = self.task.resume_stop(self)

    def save_checkpoint(self) -> None:
        self.progress.elapsed_s = self.elapsed()
        parts = {
            "progress": asdict(self.progress),
            "model": cpu_state(self.model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": cpu_state(self.ema) if self.ema is not None else None,
            "task": self.task.state_dict(),
        }
        write_checkpoint(self.checkpoint_dir, self.task.fingerprint, parts)
        if self.on_checkpoint is not None:
            self.on_checkpoint(asdict(self.progress))

    # ------------------------------------------------------------------ loop

    def evaluate(self) -> bool:
        """Evaluate and log the line; True when the task asks to stop."""
        line, stop = self.task.evaluate(self)
        p = self.progress
        p.log_lines.append(line)
        if self.log_path is not None:
            with open(self.log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(line) + "\n")
        p.period = Tally()
        p.last_eval_step = p.global_step
        return stop

    def step(self, batch: list[int]) -> None:
        """One optimizer step on ``batch``."""
        p, clip = self.progress, self.settings.grad_clip
        start = time.perf_counter()
        with self.autocast():
            loss = self.task.loss(batch)
        self.scaler.scale(loss).backward()
        if self.adversarial:
            with fgm_perturbation(self.adversarial, self.settings.fgm_epsilon):
                with self.autocast():
                    adversarial_loss = self.task.loss(batch)
                self.scaler.scale(adversarial_loss).backward()
        if clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        self.optimizer.zero_grad(set_to_none=True)
        loss_value = float(loss.detach())
        seconds = time.perf_counter() - start
        p.global_step += 1
        p.step_in_epoch += 1
        p.period.add(loss_value, len(batch), seconds)
        p.total.add(loss_value, len(batch), seconds)
        if self.task.finite_loss_required and not math.isfinite(loss_value):
            raise FloatingPointError(f"loss {loss_value} at step {p.global_step}")

    def run(self) -> None:
        """Train until the epochs are done, patience runs out or the time budget is spent."""
        p, s = self.progress, self.settings
        if self.log_path is not None:  # the log so far (empty unless resumed)
            with open(self.log_path, "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(line) + "\n" for line in p.log_lines)
        self.model.train()
        planned = s.epochs * self.batches_per_epoch
        bar = progress_bar(self.stream, planned, min(p.global_step, planned))
        try:
            while not p.stop_reason and p.epoch < s.epochs:
                batches = make_batches(self.lengths, s.batch_size, s.seed, p.epoch)
                while p.step_in_epoch < len(batches):  # mid-epoch: skip the batches done
                    self.step(batches[p.step_in_epoch])
                    bar.update(1)
                    if p.global_step % 20 == 0 and p.period.steps:
                        bar.set_postfix(loss=f"{p.period.mean_loss():.4f}", epoch=p.epoch + 1)
                    if s.eval_every_steps > 0 and p.global_step % s.eval_every_steps == 0:
                        if self.evaluate():
                            p.stop_reason = "patience"
                        self.save_checkpoint()
                    if not p.stop_reason and self.out_of_time():
                        if p.last_eval_step != p.global_step:
                            self.evaluate()
                        p.stop_reason = "time_budget"
                        self.save_checkpoint()
                    if p.stop_reason:
                        break
                if p.stop_reason:
                    break
                p.epoch, p.step_in_epoch = p.epoch + 1, 0
                at_epoch_end = s.eval_every_steps <= 0 or self.task.evaluate_every_epoch
                if at_epoch_end and p.last_eval_step != p.global_step and self.evaluate():
                    p.stop_reason = "patience"
                self.save_checkpoint()
            if not p.stop_reason and p.last_eval_step != p.global_step:
                self.evaluate()  # after the last steps
        finally:
            bar.close()
        if not p.stop_reason:
            p.stop_reason = "completed"
