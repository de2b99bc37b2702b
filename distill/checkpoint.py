"""End-of-epoch checkpoints (trainable weights, optimizer, scheduler, RNG states, history) so a killed run resumes.

Only what resume needs is stored: frozen parameters are left out (the model is rebuilt from the same weights), and
optimizer-state tensors that are mostly zero rows (Adam's moments of the word embeddings' rows no batch has used)
keep only their non-zero rows. Both are exact: a resumed run matches an uninterrupted one.
"""
from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)


def _frozen(model) -> set[str]:
    return {name for name, p in model.named_parameters() if not p.requires_grad}


def _pack(t):
    """A 2-d-or-more tensor whose rows are mostly exactly zero -> its non-zero rows and their indices."""
    if not isinstance(t, torch.Tensor) or t.ndim < 2:
        return t
    rows = t.reshape(t.shape[0], -1).ne(0).any(dim=1).nonzero().flatten()
    if len(rows) * 2 > t.shape[0]:
        return t
    return {"packed_shape": tuple(t.shape), "rows": rows, "values": t[rows].clone()}


def _unpack(v):
    if isinstance(v, dict) and "packed_shape" in v:
        t = torch.zeros(v["packed_shape"], dtype=v["values"].dtype)
        t[v["rows"]] = v["values"]
        return t
    return v


def save_checkpoint(path: Path, key: str, epoch: int, history: list, model, optimizer, scheduler) -> None:
    """Write atomically (temp file, then rename): a kill during the write leaves the previous checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frozen = _frozen(model)
    opt = optimizer.state_dict()
    opt["state"] = {i: {k: _pack(v) for k, v in s.items()} for i, s in opt["state"].items()}
    state = {
        "key": key, "epoch": epoch, "history": history,
        "model": {k: v for k, v in model.state_dict().items() if k not in frozen},
        "optimizer": opt, "scheduler": scheduler.state_dict(),
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
    missing, unexpected = model.load_state_dict(state["model"], strict=False)
    if unexpected or set(missing) - _frozen(model):
        raise ValueError(f"checkpoint {path} does not fit the model: missing {sorted(set(missing) - _frozen(model))}"
                         f", unexpected {sorted(unexpected)}; delete it to start the seed again")
    opt = state["optimizer"]
    opt["state"] = {i: {k: _unpack(v) for k, v in s.items()} for i, s in opt["state"].items()}
    optimizer.load_state_dict(opt)
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    np.random.set_state(state["numpy_rng"])
    random.setstate(state["python_rng"])
    if state["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    log.info("resumed %s after epoch %d", path, state["epoch"])
    return state["epoch"], state["history"]


def clear_checkpoint(path: Path, drop_folder: bool = True) -> None:
    """Delete a checkpoint (and a half-written one), and, with `drop_folder`, its folder once empty. Seeds training
    at once in worker processes share the folder: one that removed it could do so between another's mkdir and
    write, so they keep it and their parent removes it (`drop_empty_folder`)."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".tmp").unlink(missing_ok=True)
    if drop_folder:
        drop_empty_folder(path.parent)


def drop_empty_folder(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:  # missing, or still holds other seeds' checkpoints
        pass
