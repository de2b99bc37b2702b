"""Which fidelity option a run used (conf/fidelity/) and where the run departs from it (docs/fidelity.md)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from omegaconf import OmegaConf

from .compose import CONF_DIR


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def option_values(name: str, conf_dir: Path = CONF_DIR) -> dict:
    """{dotted key: value} that the fidelity option sets (empty for an option that is not a packaged file)."""
    path = conf_dir / "fidelity" / f"{name}.yaml"
    if not path.is_file():
        return {}
    values = _flat(OmegaConf.to_container(OmegaConf.load(path)))
    values.pop("fidelity", None)
    return values


def departures(cfg) -> list[str]:
    """Keys whose value in this run differs from what its fidelity option sets (overridden on purpose)."""
    actual = _flat(dataclasses.asdict(cfg))
    return sorted(k for k, v in option_values(cfg.fidelity).items() if k in actual and actual[k] != v)


def label(name: str, departed: list[str]) -> str:
    return f"{name}*" if departed else name
