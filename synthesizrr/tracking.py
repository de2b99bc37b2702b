"""Weights & Biases tracking: one run per pipeline run, grouped by experiment; nothing secret in its config.

At the end of a run: the student's per-epoch curves (``student/epoch`` as their x axis), the row's intervals and
warnings in the summary, the final dataset and the report as versioned artifacts, typed tables of the data and
of the report. Offline runs (no WANDB_API_KEY) upload later with ``wandb sync <store_dir>/wandb/offline-run-*``.
"""
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
MAX_TABLE_ROWS = 1000   # rows of the final dataset shown as a W&B table (all of them are in the artifact)
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
        self.cfg = cfg
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
        log.debug("W&B run %s (%s)", run_name, mode)

    def log_stage(self, stage: str, figures: dict, cached: bool) -> None:
        if self.run:
            flat = {f"{stage}/{k}": v for k, v in _flatten(figures).items()}
            flat[f"{stage}/cached"] = int(cached)
            self.run.log(flat)

    def log_table(self, name: str, rows: list[dict]) -> None:
        """Rows as a typed W&B table: one column per key, numbers and strings as they are (None stays empty);
        nested values as JSON text."""
        if self.run and rows:
            self.run.log({name: typed_table(rows)})

    def log_image(self, name: str, path: Path) -> None:
        if self.run and Path(path).exists():
            import wandb
            self.run.log({name: wandb.Image(str(path))})

    def finish(self, summary: dict) -> None:
        if self.run:
            try:
                self._log_results(summary)
            except Exception as exc:   # tracking never fails a finished run
                log.warning("W&B: could not log the results (%s: %s)", type(exc).__name__, exc)
            self.run.summary.update({k: v for k, v in _flatten(summary).items()})
            self.run.finish()
            self.run = None

    def _log_results(self, summary: dict) -> None:
        """Per-epoch student curves, the row's intervals and warnings, the final dataset and the result tables
        as versioned artifacts, and the tables as W&B tables."""
        keys = {k: v["key"] for k, v in (summary.get("stages") or {}).items()}
        store = Path(self.cfg.store_dir)
        self.log_epochs(store / "distill" / str(keys.get("distill")) / "results.json")
        final = store / "filter" / str(keys.get("filter")) / "final.jsonl"
        report = Path(summary["report_dir"]) if summary.get("report_dir") else None
        record = find_record(report, keys) if report else None
        if record:
            self.run.summary.update(scrub({"intervals": record.get("intervals") or {},
                                           "size_warnings": "; ".join(record.get("size_warnings") or []),
                                           "interval_warnings": "; ".join(record.get("interval_warnings") or [])}))
        if final.exists():
            self.log_dataset(final, record or {"dataset": self.cfg.dataset.name, "method": self.cfg.method.name})
            rows = [json.loads(line) for line in final.read_text(encoding="utf-8").splitlines()[:MAX_TABLE_ROWS]]
            self.log_table("dataset/final", rows)
        if report:
            self.log_report(report)

    def log_epochs(self, results: Path) -> None:
        """The distill stage's per-epoch records, with the epoch as the x axis: ``student/seed_<s>/<metric>`` and
        ``student/mean/<metric>`` (over the seeds that have it)."""
        if not results.exists():
            return
        per_seed = json.loads(results.read_text()).get("per_seed") or []
        epochs: dict[int, dict] = {}
        for rec in per_seed:
            for row in rec.get("per_epoch") or []:
                for k, v in row.items():
                    if k != "epoch" and isinstance(v, (int, float)):
                        epochs.setdefault(row["epoch"], {}).setdefault(k, {})[rec["seed"]] = v
        if not epochs:
            return
        self.run.define_metric("student/epoch")
        self.run.define_metric("student/*", step_metric="student/epoch")
        for epoch in sorted(epochs):
            row = {"student/epoch": epoch}
            for k, by_seed in epochs[epoch].items():
                row.update({f"student/seed_{s}/{k}": v for s, v in by_seed.items()})
                row[f"student/mean/{k}"] = sum(by_seed.values()) / len(by_seed)
            self.run.log(row)

    def log_dataset(self, final: Path, record: dict) -> None:
        """final.jsonl as a versioned ``dataset`` artifact of this row (name: dataset, method, teacher)."""
        import wandb

        name = artifact_name(record.get("dataset"), record.get("method"), record.get("teacher"), record.get("fidelity"))
        meta = {k: record.get(k) for k in ("dataset", "method", "teacher", "num_final", "fidelity", "seed")}
        art = wandb.Artifact(name, type="dataset", metadata=scrub(meta),
                             description="final synthetic dataset (filter stage's final.jsonl)")
        art.add_file(str(final), name="final.jsonl")
        self.run.log_artifact(art)

    def log_report(self, report: Path) -> None:
        """The report folder's tables, plots and summary as a versioned ``results`` artifact, and its CSV tables
        as W&B tables."""
        import csv

        import wandb

        art = wandb.Artifact(artifact_name("results", self.cfg.name), type="results",
                             description="report tables (md, csv, tex), plots and summary.json")
        for path in sorted(report.iterdir()):
            if path.is_file() and path.suffix in (".md", ".csv", ".tex", ".png", ".json"):
                art.add_file(str(path))
        self.run.log_artifact(art)
        for stem in ("table", "vs_baseline", "accuracy_by_dataset"):
            rows = list(csv.reader((report / f"{stem}.csv").open(encoding="utf-8"))) if (report / f"{stem}.csv").exists() else []
            if len(rows) > 1:
                self.run.log({f"report/{stem}": wandb.Table(columns=rows[0], data=rows[1:])})


def artifact_name(*parts) -> str:
    """A W&B artifact name (letters, digits, '-', '_', '.') from the given parts."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(str(p) for p in parts if p not in (None, "", "-"))).strip("-.")


def find_record(report: Path, stage_keys: dict) -> dict | None:
    """The run record in ``report/runs`` written by the run with these stage keys."""
    for path in sorted((report / "runs").glob("*.json")) if (report / "runs").is_dir() else []:
        rec = json.loads(path.read_text())
        if rec.get("stage_keys") == stage_keys:
            return rec
    return None


def typed_table(rows: list[dict]):
    """A wandb.Table with a column per key (first-seen order); values kept as int/float/str/bool/None."""
    import wandb

    cols = list(dict.fromkeys(k for r in rows for k in r))
    keep = lambda v: v if v is None or isinstance(v, (int, float, str, bool)) else json.dumps(v, default=str)
    return wandb.Table(columns=cols, data=[[keep(r.get(c)) for c in cols] for r in rows])


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
