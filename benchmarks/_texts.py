"""News texts for the metric benchmarks: AG News from the shared data folder, else the packaged BBC articles."""
from __future__ import annotations

import json
import os
from pathlib import Path

SHARED = Path(os.environ.get("SYNTHESIZRR_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


def news_texts(n: int, split: str = "train", offset: int = 0) -> tuple[list[str], str]:
    """``(texts, source)``: `n` news texts starting at row `offset`."""
    path = SHARED / "data" / "ag_news" / f"{split}.jsonl"
    if path.exists():
        texts = []
        with open(path) as f:
            for i, line in enumerate(f):
                if i >= offset:
                    texts.append(json.loads(line)["text"])
                if len(texts) == n:
                    break
        return texts, f"AG News {split} rows {offset}..{offset + len(texts) - 1} ({path})"
    from synthesizrr.offline import bbc_articles

    arts = bbc_articles()[offset:offset + n]
    return [a["lede"] + " " + a["body"][:400] for a in arts], f"BBC News articles {offset}..{offset + len(arts) - 1}"


def load_average() -> str:
    try:
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3]) + f" on {os.cpu_count()} cores"
    except OSError:
        return "load average unknown"
