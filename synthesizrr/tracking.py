"""Weights & Biases tracking: one run per pipeline run, grouped by experiment; nothing secret in its config."""
from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from .core.config import Config

log = logging.getLogger("synthesizrr")
SECRET_KEYS = {"api_key", "apikey", "key", "token", "access_token", "auth_token", "hf_token", "secret",
               "client_secret", "password", "authorization", "wandb_api_key", "openai_api_key", "anthropic_api_key"}
_SECRET_ENV = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|AUTH)", re.IGNORECASE)


def secret_values() -> list[str]:
    """The secrets actually in the environment: values of variables whose names say they hold one."""
    return sorted({v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 8}, key=len, reverse=True)


def scrub(obj, secrets: list[str] | None = None):
    """Redact values under exact secret-bearing keys, and any secret of the environment wherever it appears.
    Keys are matched exactly, not by substring: corpus.max_tokens or metrics.self_bleu_tokenizer are settings."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(obj, dict):
        return {k: ("<redacted>" if str(k).lower() in SECRET_KEYS and v else scrub(v, secrets)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub(v, secrets) for v in obj]
    if isinstance(obj, str) and any(s in obj for s in secrets):
        for s in secrets:
            obj = obj.replace(s, "<redacted>")
    return obj


def resolve_mode(cfg: Config) -> str:
    if cfg.tracking.backend == "none":
        return "disabled"
    mode = cfg.tracking.mode or os.environ.get("WANDB_MODE")
    if mode:
        return mode
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


class Tracker:
    def __init__(self, cfg: Config, config_dict: dict, run_name: str):
        self.run = None
        mode = resolve_mode(cfg)
        if mode == "disabled":
            return
        import wandb

        tags = list(dict.fromkeys([*cfg.tracking.tags, cfg.dataset.name, cfg.method.name, cfg.teacher.name,
                                   f"fidelity:{cfg.fidelity}"]))
        Path(cfg.store_dir).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=cfg.tracking.project, entity=cfg.tracking.entity, mode=mode,
                              group=cfg.tracking.group or cfg.name, name=run_name, tags=tags,
                              config=scrub(config_dict), dir=cfg.store_dir, reinit="finish_previous")
        log.info("W&B run %s (%s)", run_name, mode)

    def log_stage(self, stage: str, figures: dict, cached: bool) -> None:
        if self.run:
            flat = {f"{stage}/{k}": v for k, v in _flatten(figures).items()}
            flat[f"{stage}/cached"] = int(cached)
            self.run.log(flat)

    def log_table(self, name: str, rows: list[dict]) -> None:
        if self.run and rows:
            import wandb
            cols = list(rows[0])
            self.run.log({name: wandb.Table(columns=cols, data=[[str(r.get(c)) for c in cols] for r in rows])})

    def log_image(self, name: str, path: Path) -> None:
        if self.run and Path(path).exists():
            import wandb
            self.run.log({name: wandb.Image(str(path))})

    def finish(self, summary: dict) -> None:
        if self.run:
            self.run.summary.update({k: v for k, v in _flatten(summary).items()})
            self.run.finish()
            self.run = None


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, f"{key}/"))
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out[key] = v
        else:
            out[key] = json.dumps(v, default=str)[:1000]
    return out
