"""`synthesizrr [overrides]`: run the pipeline under Hydra. Config errors exit 2 with one line, before any work."""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

CONF_DIR = Path(os.environ.get("SYNTHESIZRR_CONF", Path(__file__).resolve().parents[1] / "conf"))
log = logging.getLogger("synthesizrr")


def config_groups() -> dict[str, list[str]]:
    groups = {}
    for d in sorted(p for p in CONF_DIR.iterdir() if p.is_dir() and p.name != "hydra"):
        groups[d.name] = sorted(f.stem for f in d.glob("*.yaml"))
    return groups


def check_group_overrides(argv: list[str]) -> None:
    """Fail fast, in one line, on `group=option` overrides that name no config file."""
    from .config import ConfigError

    groups = config_groups()
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        key = key.lstrip("+~")
        if key not in groups or "(" in value or "*" in value:
            continue
        for option in value.split(","):
            if option and option != "null" and option not in groups[key]:
                raise ConfigError(f"{key}={option} is not a known {key}: choose one of {', '.join(groups[key])}")


def _verbose(argv: list[str]) -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1" or "verbose=true" in argv


def _fail(msg: str) -> None:
    print(f"synthesizrr: error: {msg}", file=sys.stderr)
    sys.exit(2)


def run(cfg_node) -> dict:
    """Validate a composed config and run the pipeline; returns the run summary."""
    from omegaconf import OmegaConf

    from .config import validate
    from .pipeline import Pipeline
    from .tracking import Tracker

    cfg = validate(cfg_node)
    logging.getLogger("synthesizrr").setLevel(logging.INFO)
    config_dict = OmegaConf.to_container(cfg_node, resolve=True)
    config_dict.pop("hydra", None)
    tracker = Tracker(cfg, config_dict, run_name=f"{cfg.dataset.name}/{cfg.method.label}")
    summary = {}
    try:
        summary = Pipeline(cfg, tracker).run()
        if "report_dir" in summary:
            out = Path(summary["report_dir"])
            tracker.log_image("report/metrics", out / "metrics.png")
            tracker.log_image("report/shots_sweep", out / "shots_sweep.png")
            samples = sorted((out / "samples").glob("*.jsonl"))
            if samples:
                tracker.log_table("samples", [json.loads(l) for l in samples[-1].read_text().splitlines()[:50]])
        log.info("run summary: %s", json.dumps({k: v for k, v in summary.items() if k != "stages"}, default=str)[:2000])
        return summary
    finally:
        tracker.finish(summary)


def _task(cfg_node) -> None:
    from .config import ConfigError
    from .data import DataError

    argv = sys.argv[1:]
    try:
        run(cfg_node)
    except (ConfigError, DataError) as exc:
        if _verbose(argv):
            raise
        _fail(str(exc))
    except Exception as exc:  # teacher budget exhaustion and the like: say it in one line, keep the traceback opt-in
        if _verbose(argv) or type(exc).__name__ not in ("FailureBudgetExceeded", "TeacherError", "OfflineAssetMissing"):
            raise
        _fail(f"{type(exc).__name__}: {exc}")


def main() -> None:
    import hydra

    from .config import ConfigError

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        check_group_overrides(sys.argv[1:])
    except ConfigError as exc:
        _fail(str(exc))
    hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(_task)()


if __name__ == "__main__":
    main()
