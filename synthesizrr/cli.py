"""`synthesizrr [overrides]`: run the pipeline under Hydra. Config errors exit 2 with one line, before any work."""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from .compose import CONF_DIR, check_group_overrides, load_config, search_path, with_search_path
from . import console
from .core import config as _config  # noqa: F401  (registers the typed schema that conf/config.yaml builds on)

log = logging.getLogger("synthesizrr")


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


def _sweeper_params(overrides: list[str]) -> list[str]:
    """The experiment's own rows (hydra.sweeper.params) that the command line does not override."""
    from .compose import compose_config

    params = compose_config(overrides, return_hydra_config=True).hydra.sweeper.get("params") or {}
    given = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    return [f"{k}={v}" for k, v in params.items() if k not in given]


def precheck(argv: list[str]):
    """Validate the command line before Hydra starts any job: every value of every sweep, the experiment's own
    rows (hydra.sweeper.params) included. Returns the config of the first point."""
    check_group_overrides(argv)
    args = [a for a in argv if "=" in a and not a.startswith("-") and not a.startswith("hydra.searchpath=")]
    first = with_search_path([_first_choice(a) for a in args], argv)
    cfg = load_config(first)
    rows = _sweeper_params(first)
    for arg in args + rows:  # each value with the first value of every other command-line sweep
        key = arg.split("=", 1)[0].lstrip("+~")
        for choice in _choices(arg)[0 if arg in rows else 1:]:
            load_config([o for o in first if o.split("=", 1)[0].lstrip("+~") != key] + [choice])
    return cfg


def with_override(argv: list[str], override: str) -> list[str]:
    """argv with one more override, placed after the last override already there: Hydra's argument parser wants
    the overrides together, so appending after an option (--cfg job, --config-dir DIR) would break it."""
    spots = [i for i, a in enumerate(argv) if "=" in a and not a.startswith("-")
             and not (i and argv[i - 1] in VALUE_OPTIONS)]
    at = spots[-1] + 1 if spots else len(argv)
    return argv[:at] + [override] + argv[at:]


VALUE_OPTIONS = ("--config-dir", "-cd", "--config-path", "-cp", "--config-name", "-cn", "--cfg", "-c",
                 "--package", "-p", "--experimental-rerun")


def _verbose(argv: list[str]) -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1" or "verbose=true" in argv


def _fail(msg: str) -> None:
    print(f"synthesizrr: error: {msg}", file=sys.stderr)
    sys.exit(2)


def run(cfg_node) -> dict:
    """Validate a composed config and run the pipeline; returns the run summary."""
    from omegaconf import OmegaConf

    from .core.config import validate
    from .methods.base import load_method
    from .pipeline import Pipeline
    from .tracking import Tracker

    cfg = validate(cfg_node)
    method = load_method(cfg.method)
    console.setup(cfg.verbose)
    logging.getLogger("synthesizrr").setLevel(logging.DEBUG)   # keys and details: the log file (verbose: console)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per teacher request otherwise
    log.info("%s · %s · %s (fidelity %s)", cfg.dataset.name, method.label,
             cfg.teacher.name if method.uses_teacher else "no teacher", cfg.fidelity)
    config_dict = OmegaConf.to_container(cfg_node, resolve=True)
    config_dict.pop("hydra", None)
    tracker = Tracker(cfg, config_dict, run_name=f"{cfg.dataset.name}/{method.label}")
    summary = {}
    try:
        summary = Pipeline(cfg, tracker, method).run()
        if "report_dir" in summary:
            out = Path(summary["report_dir"])
            tracker.log_image("report/metrics", out / "metrics.png")
            tracker.log_image("report/shots_sweep", out / "shots_sweep.png")
            samples = sorted((out / "samples").glob("*.jsonl"))
            if samples:
                tracker.log_table("samples", [json.loads(l) for l in samples[-1].read_text().splitlines()[:50]])
        log.debug("run summary: %s", json.dumps({k: v for k, v in summary.items() if k != "stages"}, default=str))
        return summary
    finally:
        tracker.finish(summary)


def _run_one(cfg_node) -> None:
    from .core.errors import SynthesizrrError

    try:
        summary = run(cfg_node)
        console.print_end(summary.get("report_dir"), cfg_node.store_dir)
    except SynthesizrrError as exc:  # config, data, teacher budget, missing asset: one line, traceback opt-in
        if _verbose(sys.argv[1:]):
            raise
        msg = str(exc)
        _fail(msg if type(exc).__name__ in ("ConfigError", "DataError") else f"{type(exc).__name__}: {msg}")


def _task(cfg_node) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.get().mode == RunMode.MULTIRUN:   # a failing point is reported; the others still run
        from .sweeps import run_point
        run_point(run, cfg_node, _verbose(sys.argv[1:]) or bool(cfg_node.get("verbose")))
    else:
        _run_one(cfg_node)


def main() -> None:
    import hydra

    from .core.errors import ConfigError

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if os.environ.get("SYNTHESIZRR_CONFIG_PATH"):   # Hydra knows --config-dir and hydra.searchpath, not this
        argv = [a for a in sys.argv[1:] if not a.startswith("hydra.searchpath=")]
        entries = search_path(sys.argv[1:], config_dirs=False)
        sys.argv[1:] = with_override(argv, f"hydra.searchpath=[{','.join(entries)}]")
    try:
        first = precheck(sys.argv[1:])
    except ConfigError as exc:
        if _verbose(sys.argv[1:]):
            raise
        _fail(str(exc))
    if first.preflight:   # check what every sweep point needs, print one table, exit before any work
        from .core.errors import SynthesizrrError
        from .preflight import main as preflight_main
        try:
            sys.exit(preflight_main(sys.argv[1:]))
        except SynthesizrrError as exc:
            if _verbose(sys.argv[1:]):
                raise
            _fail(str(exc))
    from . import sweeps
    sys.argv[1:] = with_override(sys.argv[1:], sweeps.CALLBACK)   # multirun: the table, failed points
    hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(_task)()
    sys.exit(sweeps.result["exit_code"])


if __name__ == "__main__":
    main()
