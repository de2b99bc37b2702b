"""Text features for MAUVE and embedding similarity, with an on-disk cache so reference texts are encoded once.

Featurizers, chosen by name (:func:`featurizer_kind`):

- ``sentence`` encoders (``offline:*`` names, ``sentence-transformers/*`` names, directories with a
  ``modules.json``): the mean of the last hidden states over non-padding tokens, L2-normalised.
- ``causal`` language models (anything else, e.g. ``gpt2-xl`` as in the reference): the last hidden state of the
  last token of the text truncated to `max_length` tokens, as mauve-text featurizes. An empty text is fed as the
  single end-of-text token.

Batches are formed from texts of similar length (padding on the right, which leaves a causal model's states at
real positions unchanged) and the order is restored afterwards.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

KINDS = ("sentence", "causal")


def text_key(text: str) -> str:
    """Cache key of a text: sha1 of its UTF-8 bytes."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def featurizer_kind(name: str) -> str:
    """``sentence`` or ``causal`` for a featurizer name (rules in the module docstring)."""
    if name.startswith("offline:") or name.startswith("sentence-transformers/"):
        return "sentence"
    if Path(name).is_dir():
        return "sentence" if (Path(name) / "modules.json").exists() else "causal"
    return "causal"


class FeatureCache:
    """Feature vectors of one featurizer (name + max_length) on disk, keyed by :func:`text_key`.

    Layout: ``<cache_dir>/<featurizer slug>__maxlen<max_length>/`` with ``features.npy`` (float32 rows) and
    ``index.json`` ({text key: row}). Writes go to temporary files that replace the old ones under a file lock.
    """

    def __init__(self, cache_dir: str | os.PathLike, featurizer: str, max_length: int):
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", featurizer).strip("_")
        self.dir = Path(cache_dir) / f"{slug}__maxlen{max_length}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._index_path, self._array_path = self.dir / "index.json", self.dir / "features.npy"

    def _read(self) -> tuple[dict[str, int], np.ndarray | None]:
        if not self._index_path.exists():
            return {}, None
        return json.loads(self._index_path.read_text()), np.load(self._array_path)

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors among `keys` (missing keys are absent from the result)."""
        index, array = self._read()
        return {k: array[index[k]] for k in keys if k in index}

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Store `vectors` (one row per key); keys already present keep their stored vector."""
        from filelock import FileLock

        with FileLock(str(self.dir / ".lock")):
            index, array = self._read()
            new = [(k, i) for i, k in enumerate(keys) if k not in index]
            if not new:
                return
            rows = np.asarray(vectors, dtype=np.float32)[[i for _, i in new]]
            if array is not None and rows.shape[1:] != array.shape[1:]:
                raise ValueError(f"feature cache {self.dir} holds vectors of shape {array.shape[1:]}, "
                                 f"got {rows.shape[1:]}: use another cache_dir or featurizer name")
            array = rows if array is None else np.concatenate([array, rows])
            index.update({k: len(index) + j for j, (k, _) in enumerate(new)})
            tmp_array, tmp_index = self.dir / "features.tmp.npy", self.dir / "index.tmp.json"
            np.save(tmp_array, array)
            tmp_index.write_text(json.dumps(index))
            os.replace(tmp_array, self._array_path)
            os.replace(tmp_index, self._index_path)

    def __len__(self) -> int:
        return len(self._read()[0])


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; other values are returned unchanged."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@lru_cache(maxsize=4)
def _load(name: str, device: str):
    from transformers import AutoModel, AutoTokenizer

    from synthesizrr.core.assets import resolve_model

    path = resolve_model(name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    model = AutoModel.from_pretrained(path).to(device).eval()
    return tokenizer, model


def encode(texts: Sequence[str], featurizer: str, max_length: int = 512, device: str = "auto",
           batch_size: int = 32, progress: bool = True) -> np.ndarray:
    """Feature matrix (len(texts), dim), float32, of `texts` under `featurizer` (module docstring); no cache."""
    import torch
    from tqdm.auto import tqdm

    kind = featurizer_kind(featurizer)
    tokenizer, model = _load(featurizer, resolve_device(device))
    limit = min(max_length, getattr(model.config, "max_position_embeddings", max_length) or max_length)
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    for idx in tqdm(batches, desc=f"featurize {featurizer}", unit="batch", disable=not progress or not batches):
        batch = [texts[i] if texts[i] or kind == "sentence" else tokenizer.eos_token for i in idx]
        enc = tokenizer(batch, padding=True, truncation=True, max_length=limit, return_tensors="pt")
        enc = {k: v.to(model.device) for k, v in enc.items()}
        with torch.no_grad():
            hidden = model(**enc).last_hidden_state.float()
        mask = enc["attention_mask"].unsqueeze(-1).float()
        if kind == "sentence":
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        else:
            last = enc["attention_mask"].sum(1) - 1
            pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        out[idx] = pooled.cpu().numpy()
    return out


def featurize(texts: Sequence[str], featurizer: str, max_length: int = 512, cache_dir: str | os.PathLike | None = None,
              device: str = "auto", batch_size: int = 32, progress: bool = True) -> tuple[np.ndarray, int]:
    """``(features, num_encoded)``: features of `texts` (row i for text i), reading and filling the
    :class:`FeatureCache` in `cache_dir` when given. Each distinct text not in the cache is encoded once;
    `num_encoded` counts those encodings."""
    texts = list(texts)
    keys = [text_key(t) for t in texts]
    cache = FeatureCache(cache_dir, featurizer, max_length) if cache_dir is not None else None
    found = cache.get(keys) if cache is not None else {}
    missing = list(dict.fromkeys(k for k in keys if k not in found))
    if missing:
        first_text = {k: t for k, t in zip(keys, texts)}
        vectors = encode([first_text[k] for k in missing], featurizer, max_length, device, batch_size, progress)
        found.update(zip(missing, vectors))
        if cache is not None:
            cache.put(missing, vectors)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32), 0
    return np.stack([found[k] for k in keys]).astype(np.float32), len(missing)
