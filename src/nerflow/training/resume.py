"""What the resumable loops (tagger training, MLM pretraining) share about checkpoints.

A checkpoint is one ``torch.save`` file, :data:`CHECKPOINT_FILE` in the loop's
checkpoint folder, written atomically by :func:`write_checkpoint` and read back with
``weights_only=True`` by :func:`load_checkpoint`; it carries its layout version, a
``fingerprint`` of everything it may be resumed into (a checkpoint of another layout or
fingerprint is ignored), the random states (:func:`rng_state`), and whatever else the
loop needs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nerflow.atomic import save_torch

CHECKPOINT_FILE = "state.pt"
CHECKPOINT_LAYOUT = 2
"""Version of what a checkpoint holds (2: the shared loop's; 1, unmarked: before it)."""


def rng_state() -> dict[str, Any]:
    """The global random states: Python's ``random``, NumPy's legacy one, torch's (CPU and
    every CUDA device), in a form ``torch.load(..., weights_only=True)`` reads back."""
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state["numpy"] = {
        "name": str(name),
        "keys": torch.from_numpy(keys.astype("int64")),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned (parts it lacks are left as they are)."""
    torch.set_rng_state(state["torch"])
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in state:
        saved = state["numpy"]
        np.random.set_state(
            (
                saved["name"],
                saved["keys"].numpy().astype("uint32"),
                saved["pos"],
                saved["has_gauss"],
                saved["cached_gaussian"],
            )
        )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``model``'s state dict on the CPU (safe to keep while training goes on)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def write_checkpoint(checkpoint_dir: str | Path, fingerprint: str, parts: dict[str, Any]) -> None:
    """Write ``parts`` with the layout, ``fingerprint`` and :func:`rng_state` as the
    checkpoint of ``checkpoint_dir``, atomically: a full disk or a kill mid-write leaves
    the previous checkpoint intact."""
    state = {"layout": CHECKPOINT_LAYOUT, "fingerprint": fingerprint, **parts, "rng": rng_state()}
    save_torch(state, Path(checkpoint_dir) / CHECKPOINT_FILE)


def load_checkpoint(
    checkpoint_dir: str | Path, fingerprint: str, say: Callable[[str], None]
) -> dict[str, Any] | None:
    """The checkpoint in ``checkpoint_dir`` if there is one of this layout with
    ``fingerprint``; ``None`` otherwise (another one is ignored, with a message through
    ``say``)."""
    path = Path(checkpoint_dir) / CHECKPOINT_FILE
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("layout") != CHECKPOINT_LAYOUT:
        say(f"ignoring checkpoint {path}: written by another version of nerflow")
        return None
    if state.get("fingerprint") != fingerprint:
        say(f"ignoring checkpoint {path}: it belongs to another config or data set")
        return None
    return state
