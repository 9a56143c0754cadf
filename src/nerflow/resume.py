"""What the resumable loops (tagger training, MLM pretraining) share about checkpoints.

A checkpoint is one ``torch.save`` file, :data:`CHECKPOINT_FILE` in the loop's
checkpoint folder, written with :func:`nerflow.atomic.save_torch` and read back with
``weights_only=True``; it carries a ``fingerprint`` of everything it may be resumed into
(:func:`load_checkpoint` refuses another one), the random states (:func:`rng_state`), and
whatever else the loop needs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_FILE = "state.pt"


def rng_state() -> dict[str, Any]:
    """The global random states: Python's ``random``, NumPy's legacy one, torch's (CPU and
    every CUDA device), in a form ``torch.load(..., weights_only=True)`` reads back."""
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with pandas
        pass
    else:
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
        import numpy as np

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


def load_checkpoint(
    checkpoint_dir: str | Path, fingerprint: str, say: Callable[[str], None]
) -> dict[str, Any] | None:
    """The checkpoint in ``checkpoint_dir`` if there is one and it has ``fingerprint``;
    ``None`` otherwise (a checkpoint of another config or data set is ignored, with a
    message through ``say``)."""
    path = Path(checkpoint_dir) / CHECKPOINT_FILE
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("fingerprint") != fingerprint:
        say(f"ignoring checkpoint {path}: it belongs to another config or data set")
        return None
    return state
