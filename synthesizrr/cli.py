"""`synthesizrr [overrides]`: run the pipeline under Hydra. Config errors exit 2 with one line, before any work."""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from .core import config as _config  # noqa: F401  (registers the typed schema that conf/config.yaml builds on)

CONF_DIR = Path(os.environ.get("SYNTHESIZRR_CONF", Path(__file__).resolve().parents[1] / "conf"))
log = logging.getLogger("synthesizrr")


def config_groups() -> dict[str, list[str]]:
    groups = {}
    for d in sorted(p for p in CONF_DIR.iterdir() if p.is_dir() and p.name != "hydra"):
        groups[d.name] = sorted(f.stem for f in d.glob("*.yaml"))
    return groups


def check_group_overrides(argv: list[str]) -> None:
    """Fail fast, in one line, on `group=option` overrides that name no config file."""
    from .core.errors import ConfigError

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


def _choices(arg: str) -> list[str]:
    """`k=a,b` (a sweep) -> [`k=a`, `k=b`]; commas inside brackets or quotes are values, not sweeps."""
    key, _, value = arg.partition("=")
    depth, quote, start, out = 0, None, 0, []
    for i, ch in enumerate(value):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(f"{key}={value[start:i]}")
            start = i + 1
    return out + [f"{key}={value[start:]}"] if out else [arg]


def _first_choice(arg: str) -> str:
    return _choices(arg)[0]


def compose_config(overrides: list[str]):
    """Compose conf/config.yaml with overrides; composition errors become one-line ConfigErrors."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    from .core.errors import ConfigError

    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            return compose("config", overrides=list(overrides))
    except HydraException as exc:
        cause = exc.__cause__ or exc
        msg = str(cause).strip().splitlines()[0]
        key = getattr(cause, "full_key", None)
        raise ConfigError(f"{key}: {msg}" if key and key not in msg else msg) from exc


def load_config(overrides: list[str]):
    """The validated, typed config for these overrides (what a run would use)."""
    from .core.config import validate

    return validate(compose_config(overrides))


def precheck(argv: list[str]) -> None:
    """Validate the command line before Hydra starts any job (the first value of each sweep)."""
    check_group_overrides(argv)
    args = [a for a in argv if "=" in a and not a.startswith("-")]
    first = [_first_choice(a) for a in args]
    load_config(first)
    for i, arg in enumerate(args):  # every other value of a sweep, with the first value of the rest
        for choice in _choices(arg)[1:]:
            load_config(first[:i] + [choice] + first[i + 1:])


def _verbose(argv: list[str]) -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1" or "verbose=true" in argv


def _fail(msg: str) -> None:
    print(f"synthesizrr: error: {msg}", file=sys.stderr)
    sys.exit(2)


def run(cfg_node) -> dict:
    """Validate a composed config and run the pipeline; returns the run summary."""
    from omegaconf import OmegaConf

    from .core.config import validate
    from .pipeline import Pipeline
    from .tracking import Tracker

    cfg = validate(cfg_node)
    logging.getLogger("synthesizrr").setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per teacher request otherwise
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
    from .core.errors import SynthesizrrError

    argv = sys.argv[1:]
    try:
        run(cfg_node)
    except SynthesizrrError as exc:  # config, data, teacher budget, missing asset: one line, traceback opt-in
        if _verbose(argv):
            raise
        msg = str(exc)
        _fail(msg if type(exc).__name__ in ("ConfigError", "DataError") else f"{type(exc).__name__}: {msg}")


def main() -> None:
    import hydra

    from .core.errors import ConfigError

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        precheck(sys.argv[1:])
    except ConfigError as exc:
        if _verbose(sys.argv[1:]):
            raise
        _fail(str(exc))
    hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(_task)()


if __name__ == "__main__":
    main()
