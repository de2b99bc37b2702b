"""The method interface and registry. A method is one class in one module: what it needs (corpus index,
retrieval of seed texts, a teacher), its typed settings (`method.settings` in the config), its row name, and how
the synthesize stage makes its examples. The pipeline, stages and report ask the method; none compares names.

A method outside this package is named in its config: `impl: package.module:Class` or `impl: path/to/file.py:Class`
(docs/extending.md).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..core.config import Config, ConfigError, MethodConfig
from ..plugins import load_class

BUILTIN = {
    "gold": "synthesizrr.methods.gold:Gold",
    "fewgen": "synthesizrr.methods.fewgen:FewGen",
    "synthesizrr": "synthesizrr.methods.synthesizrr:SynthesizRR",
    "zerogen": "synthesizrr.methods.zerogen:ZeroGen",
    "attrprompt": "synthesizrr.methods.attrprompt:AttrPrompt",
    "regen": "synthesizrr.methods.regen:ReGen",
}


@dataclass
class NoSettings:
    """A method without settings of its own."""


@dataclass
class Inputs:
    """What the synthesize stage hands a method: earlier stages' output folders and the teacher (loaded lazily)."""
    cfg: Config
    prep: Path
    out: Path
    work: Path
    index: Optional[Path] = None
    retrieved: Optional[Path] = None
    teacher: Optional[Callable[[], Any]] = None


class Method:
    """Subclass it, set the class attributes, and implement `synthesize` (or `prompts`, via TeacherMethod)."""
    name: ClassVar[str] = "method"
    title: ClassVar[Optional[str]] = None      # the row name in tables (default: name)
    Settings: ClassVar[type] = NoSettings
    needs_index: ClassVar[bool] = False       # the corpus index (index stage)
    needs_retrieval: ClassVar[bool] = False   # seed texts as retrieval queries (retrieve stage)
    uses_teacher: ClassVar[bool] = True       # teacher settings are part of its cache key
    real_data: ClassVar[bool] = False         # real examples (gold): no cartography, sized like the synthetic rows
    order: ClassVar[int] = 50                 # row order in tables (gold 0, baselines before SynthesizRR)

    def __init__(self, mcfg: MethodConfig, settings: Any):
        self.mcfg = mcfg
        self.settings = settings

    # ---- what tables and plots show -------------------------------------------------------------------
    def default_label(self) -> str:
        return self.title or self.name

    @property
    def label(self) -> str:
        return self.mcfg.display_name or self.default_label()

    @property
    def family(self) -> str:
        """The line a shot sweep draws this row on (rows of one family differ in shots)."""
        return self.default_label()

    def default_final_size(self, cfg: Config) -> Optional[int]:
        """The final sample size when filter.num_samples is unset (None: keep what the filter leaves)."""
        return None

    # ---- cache keys -------------------------------------------------------------------------------------
    def key_parts(self, cfg: Config) -> dict:
        """What the synthesize output depends on besides the declared config fields and the stage inputs."""
        return {"settings": dataclasses.asdict(self.settings)}

    def synthesize(self, inp: Inputs) -> dict:
        """Write `synthetic.jsonl` (text, label and provenance per example) into `inp.out`; return figures."""
        raise NotImplementedError


def _import(impl: str) -> type:
    return load_class(impl, Method, "method.impl")


def method_class(mcfg: MethodConfig) -> type:
    impl = mcfg.impl or BUILTIN.get(mcfg.name)
    if impl is None:
        raise ConfigError(f"method.name={mcfg.name!r} is not a registered method: choose one of "
                          f"{', '.join(BUILTIN)}, or name its class in method.impl")
    return _import(impl)


def typed_settings(cls: type, raw: dict) -> Any:
    """`method.settings` merged into the method's Settings dataclass: unknown keys and wrong types fail in one line."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(cls.Settings), OmegaConf.create(dict(raw)))
        return OmegaConf.to_object(merged)
    except ConfigError:
        raise
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        msg = str(exc).strip().splitlines()[0]
        raise ConfigError(f"method.settings.{key}: {msg}" if key else f"method.settings: {msg}") from exc


def register_settings() -> None:
    """Store each built-in method's Settings in Hydra's ConfigStore as `method_settings/<name>`: a method's yaml
    pulls its typed defaults with `- /method_settings/<name>@settings`, so `--cfg job` shows every setting and
    each is overridable without '+'."""
    from hydra.core.config_store import ConfigStore

    for name, impl in BUILTIN.items():
        ConfigStore.instance().store(group="method_settings", name=name, node=_import(impl).Settings)


def load_method(mcfg: MethodConfig) -> Method:
    """The configured method with its typed settings (ConfigError on an unknown method or a bad setting)."""
    cls = method_class(mcfg)
    return cls(mcfg, typed_settings(cls, mcfg.settings))
