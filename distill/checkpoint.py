"""End-of-epoch checkpoints (model, optimizer, scheduler, RNG states, history) so a killed run resumes."""
from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)


def save_checkpoint(path: Path, key: str, epoch: int, history: list, model, optimizer, scheduler) -> None:
    """Write atomically (temp file, then rename): a kill during the write leaves the previous checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "key": key, "epoch": epoch, "history": history,
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(), "python_rng": random.getstate(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, key: str, model, optimizer, scheduler) -> tuple[int, list]:
    """Restore states in place; return (epochs done, history). A missing or foreign checkpoint gives (0, [])."""
    if not path.exists():
        return 0, []
    state = torch.load(path, map_location="cpu", weights_only=False)  # our own file, written by save_checkpoint
    if state.get("key") != key:
        log.warning("ignoring checkpoint %s: it belongs to another config or data set", path)
        return 0, []
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    np.random.set_state(state["numpy_rng"])
    random.setstate(state["python_rng"])
    if state["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    log.info("resumed %s after epoch %d", path, state["epoch"])
    return state["epoch"], state["history"]


def clear_checkpoint(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".tmp").unlink(missing_ok=True)
