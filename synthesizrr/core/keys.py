"""Cache-key parts from the fields each config section declares for a stage (`@consumed_by` in config.py)."""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable


def _stages_of(cls, name: str) -> tuple:
    stages, own, ignore = getattr(cls, "__consumers__", ((), {}, ()))
    if name in ignore:
        return ()
    return tuple(own.get(name, stages))


def stage_fields(obj: Any, stage: str, skip: Iterable[str] = ()) -> dict:
    """The fields of `obj` (a config dataclass, searched recursively) that feed `stage`'s key, as a nested dict.
    A nested section is kept whole when its parent field names the stage, else searched field by field.
    `skip` names top-level sections to leave out (e.g. "teacher" for a method that calls none)."""
    out = {}
    for f in dataclasses.fields(obj):
        if f.name in skip:
            continue
        value = getattr(obj, f.name)
        declared = stage in _stages_of(type(obj), f.name)
        if dataclasses.is_dataclass(value):
            nested = dataclasses.asdict(value) if declared else stage_fields(value, stage)
            if nested:
                out[f.name] = nested
        elif declared:
            out[f.name] = value
    return out


def declared_stages(obj: Any, prefix: str = "") -> dict[str, tuple]:
    """Every field path with the stages it feeds (for docs and tests)."""
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            inner = declared_stages(value, f"{prefix}{f.name}.")
            declared = _stages_of(type(obj), f.name)
            out.update({k: tuple(dict.fromkeys(declared + v)) for k, v in inner.items()})
        else:
            out[f"{prefix}{f.name}"] = _stages_of(type(obj), f.name)
    return out
