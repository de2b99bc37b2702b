"""Independent sweep points. Each point of a multirun records its outcome in its own job folder
(`synthesizrr_outcome.json`), whatever launcher ran it (in-process, joblib processes, SLURM jobs); a failing point
is reported in one line and the others go on. When the sweep ends, the `SweepOutcomes` Hydra callback (main
process) reads every outcome and prints which points failed and why; the CLI then exits non-zero."""
from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Optional

OUTCOME = "synthesizrr_outcome.json"
CALLBACK = "++hydra.callbacks.synthesizrr_outcomes._target_=synthesizrr.sweeps.SweepOutcomes"
result = {"exit_code": 0}   # set by SweepOutcomes.on_multirun_end in the main process


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def swept_keys(sweep_dir: Path) -> set[str]:
    """Keys that vary across the sweep: the sweeper's params and the command line's sweeps (multirun.yaml)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    try:
        hydra = OmegaConf.load(Path(sweep_dir) / "multirun.yaml").hydra
        params = hydra.sweeper.get("params") or {}
        args = [f"{k}={v}" for k, v in params.items()] + list(hydra.overrides.task)
        parsed = OverridesParser.create().parse_overrides(args)
    except Exception:  # noqa: BLE001 - no or unreadable multirun.yaml: the label shows every override
        return set()
    return {_override_key(o.input_line) for o in parsed if o.is_sweep_override()}


def point_label(num: int, overrides: list[str], swept: set[str]) -> str:
    shown = [o for o in overrides if _override_key(o) in swept] or overrides
    return f"#{num} ({' '.join(shown)})"


def _write(out_dir: Path, outcome: dict) -> None:
    tmp = out_dir / f".{OUTCOME}.tmp"
    tmp.write_text(json.dumps(outcome, indent=1))
    os.replace(tmp, out_dir / OUTCOME)


def _log_to_files(exc: BaseException) -> Optional[str]:
    """Write the traceback to the job's log file(s) only (not the console); return the first file's path."""
    record = logging.LogRecord("synthesizrr", logging.ERROR, __file__, 0, "point failed", None,
                               (type(exc), exc, exc.__traceback__))
    files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    for handler in files:
        handler.handle(record)
    return files[0].baseFilename if files else None


def one_line(exc: BaseException) -> str:
    from .core.errors import SynthesizrrError

    msg = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, SynthesizrrError) and type(exc).__name__ in ("ConfigError", "DataError"):
        return msg
    return f"{type(exc).__name__}: {msg}"


def run_point(task, cfg_node, verbose: bool) -> None:
    """Run one sweep point; an exception is recorded and reported in one line instead of ending the sweep."""
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    out_dir = Path(hc.runtime.output_dir)
    overrides = list(hc.overrides.task)
    num = int(hc.job.num)
    label = point_label(num, overrides, swept_keys(Path(hc.sweep.dir)))
    base = {"num": num, "overrides": overrides, "label": label}
    _write(out_dir, {**base, "status": "started"})
    try:
        task(cfg_node)
    except Exception as exc:  # noqa: BLE001 - any failure of this point stays in this point
        from .core.errors import SynthesizrrError

        log_file = _log_to_files(exc)
        if verbose:
            traceback.print_exc()
        reason = one_line(exc)
        _write(out_dir, {**base, "status": "failed", "error": reason, "error_type": type(exc).__name__,
                         "user_error": isinstance(exc, SynthesizrrError), "log": log_file})
        print(f"synthesizrr: error: point {label} failed: {reason}", file=sys.stderr, flush=True)
        return
    _write(out_dir, {**base, "status": "ok"})


def read_outcomes(sweep_dir: Path) -> list[dict]:
    outcomes = []
    for path in sorted(Path(sweep_dir).rglob(OUTCOME)):
        try:
            outcomes.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            outcomes.append({"num": -1, "label": str(path.parent), "status": "unreadable"})
    return sorted(outcomes, key=lambda o: o.get("num", -1))


def summary(outcomes: list[dict], sweep_dir: Path) -> list[str]:
    """Lines naming each point that did not finish, and why; empty when all finished."""
    bad = [o for o in outcomes if o.get("status") != "ok"]
    if not bad:
        return []
    lines = [f"synthesizrr: {len(bad)} of {len(outcomes)} sweep points failed (outcomes under {sweep_dir}):"]
    for o in bad:
        if o["status"] == "failed":
            where = f" (traceback: {o['log']})" if o.get("log") else ""
            lines.append(f"  {o['label']}: {o['error']}{where}")
        else:
            lines.append(f"  {o['label']}: no outcome recorded: the job died (killed, out of memory?); see its log")
    return lines


def exit_code(outcomes: list[dict]) -> int:
    """0 when every point finished; 2 when only user errors (config, data, assets) failed; else 1."""
    bad = [o for o in outcomes if o.get("status") != "ok"]
    if not bad:
        return 0
    return 2 if all(o.get("user_error") for o in bad) else 1


try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - hydra is a dependency; keeps this module importable without it
    Callback = object


class SweepOutcomes(Callback):
    """Hydra callback (main process): clears outcomes of an earlier sweep into the same folder, and prints the
    summary of this one when it ends."""

    def on_multirun_start(self, config, **kwargs) -> None:
        result["exit_code"] = 0
        for path in Path(str(config.hydra.sweep.dir)).rglob(OUTCOME):
            path.unlink(missing_ok=True)

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        outcomes = read_outcomes(sweep_dir)
        from .console import print_end

        if any(o.get("status") == "ok" for o in outcomes):
            print_end(Path(str(config.results_dir)) / str(config.name), str(config.store_dir))
        for line in summary(outcomes, sweep_dir):
            print(line, file=sys.stderr, flush=True)
        result["exit_code"] = exit_code(outcomes)
