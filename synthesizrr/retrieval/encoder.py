"""A dense text encoder: any HF encoder (AutoModel + AutoTokenizer) with mean or CLS pooling, L2-normalised output.

The same encoder embeds the corpus and the queries (the reference pairs MiniLM-L12 documents with MiniLM-L6 queries,
which is a bug). ``offline:minilm`` resolves to the packaged all-MiniLM-L6-v2; ``facebook/contriever`` is the
paper's retriever (mean pooling, 512 tokens).
"""
from __future__ import annotations

import numpy as np
import torch

from synthesizrr.core.config import ConfigError, RetrieverConfig
from synthesizrr.core.assets import resolve_model

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
           "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def pick_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"retriever.device={device!r} but no CUDA device is visible: use auto or cpu")
    return device


def pick_dtype(name: str, device: str) -> torch.dtype:
    """``auto`` is float16 on GPU and float32 on CPU; half precision on CPU is refused (slow and lossy)."""
    if name == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    if name not in _DTYPES:
        raise ConfigError(f"retriever.dtype={name!r} is not allowed: choose one of auto, {', '.join(_DTYPES)}")
    dtype = _DTYPES[name]
    if dtype != torch.float32 and not device.startswith("cuda"):
        raise ConfigError(f"retriever.dtype={name!r} needs a GPU: use float32 (or auto) on {device}")
    return dtype


class Encoder:
    """Embeds texts in one forward pass per call; callers batch. ``calls`` counts forward passes."""

    def __init__(self, cfg: RetrieverConfig):
        from transformers import AutoModel, AutoTokenizer

        self.cfg = cfg
        self.device = pick_device(cfg.device)
        # RetrieverConfig may not have a dtype field; float32 keeps CPU and GPU vectors comparable.
        dtype = pick_dtype(getattr(cfg, "dtype", "float32"), self.device)
        path = resolve_model(cfg.model)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path, dtype=dtype).to(self.device).eval()
        self.dim = int(self.model.config.hidden_size)
        self.calls = 0

    def count_tokens(self, texts: list[str]) -> np.ndarray:
        """Untruncated token counts without special tokens (used for the corpus token range)."""
        ids = self.tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        return np.fromiter((len(x) for x in ids), dtype=np.int32, count=len(ids))

    @torch.inference_mode()
    def encode(self, texts: list[str]) -> np.ndarray:
        """float32 array (len(texts), dim) of unit-length vectors."""
        self.calls += 1
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.cfg.max_length,
                               return_tensors="pt").to(self.device)
        hidden = self.model(**batch).last_hidden_state
        if self.cfg.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
        return pooled.cpu().numpy().astype(np.float32, copy=False)
