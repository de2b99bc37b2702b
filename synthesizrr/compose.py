"""Composing configs: the package's conf/ plus the user's own config folders (Hydra's `--config-dir`,
`hydra.searchpath=[...]`, or SYNTHESIZRR_CONFIG_PATH=dir1:dir2), checked early with one-line errors.

Options are listed through Hydra's own config repository, so a dataset, method or experiment in a user's folder
is as valid as a packaged one; the same option name in two folders is an error (it would shadow silently).
"""
from __future__ import annotations

import os
from pathlib import Path

from .core import config as _schema  # noqa: F401  (registers the typed schema conf/config.yaml builds on)
from .core.errors import ConfigError
from .methods.base import register_settings

register_settings()

CONF_DIR = Path(os.environ.get("SYNTHESIZRR_CONF", Path(__file__).resolve().parents[1] / "conf"))
GROUPS = ("dataset", "corpus", "retriever", "teacher", "method", "filter", "student", "metrics", "tracking",
          "fidelity", "experiment")


def _split_list(value: str) -> list[str]:
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    return [v.strip().strip("'\"") for v in value.split(",") if v.strip()]


def search_path(argv: list[str], config_dirs: bool = True) -> list[str]:
    """Extra config folders (as Hydra search-path entries) named by argv (--config-dir only when `config_dirs`,
    hydra.searchpath) and SYNTHESIZRR_CONFIG_PATH."""
    entries, args = [], list(argv)
    for i, arg in enumerate(args):
        if arg in ("--config-dir", "-cd") and i + 1 < len(args) and config_dirs:
            entries.append(args[i + 1])
        elif arg.startswith("--config-dir=") and config_dirs:
            entries.append(arg.split("=", 1)[1])
        elif arg.startswith("hydra.searchpath="):
            entries.extend(_split_list(arg.split("=", 1)[1]))
    entries += [p for p in os.environ.get("SYNTHESIZRR_CONFIG_PATH", "").split(os.pathsep) if p]
    out = []
    for e in entries:
        e = e if "://" in e else f"file://{Path(e).expanduser().resolve()}"
        if e not in out:
            out.append(e)
    return out


def with_search_path(overrides: list[str], argv: list[str]) -> list[str]:
    """`overrides` with one hydra.searchpath override holding every extra config folder."""
    extra = search_path(argv)
    rest = [o for o in overrides if not o.startswith("hydra.searchpath=")]
    return rest + ([f"hydra.searchpath=[{','.join(extra)}]"] if extra else [])


def _repo(overrides: list[str]):
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        return loader._parse_overrides_and_create_caching_repo("config", overrides)[1]


def group_sources(overrides: list[str] = ()) -> dict[str, dict[str, list[str]]]:
    """{group: {option: [folders that define it]}} over the whole search path."""
    from hydra.core.object_type import ObjectType

    out: dict[str, dict[str, list[str]]] = {}
    for source in _repo(list(overrides)).get_sources():
        if source.scheme() == "structured" or not source.available():
            continue
        for group in GROUPS:
            if source.is_group(group):
                for option in source.list(group, ObjectType.CONFIG):
                    out.setdefault(group, {}).setdefault(option, []).append(source.path)
    return out


def config_groups(overrides: list[str] = ()) -> dict[str, list[str]]:
    """{group: [options]}; options whose name starts with '_' are shared bases, not choices."""
    return {g: sorted(o for o in opts if not o.startswith("_")) for g, opts in group_sources(overrides).items()}


def check_group_overrides(argv: list[str]) -> None:
    """Fail fast, in one line, on `group=option` overrides that name no config, and on options defined twice."""
    overrides = with_search_path([], argv)
    sources = group_sources(overrides)
    for group, options in sources.items():
        for option, where in options.items():
            if len(where) > 1:
                raise ConfigError(f"{group}={option} is defined in several config folders ({', '.join(where)}): "
                                  f"rename one, an option must not shadow another")
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        key = key.lstrip("+~")
        if key not in sources or "(" in value or "*" in value:
            continue
        allowed = sorted(o for o in sources[key] if not o.startswith("_"))
        for option in value.split(","):
            if option and option != "null" and option not in allowed:
                raise ConfigError(f"{key}={option} is not a known {key}: choose one of {', '.join(allowed)}")


def compose_config(overrides: list[str], return_hydra_config: bool = False):
    """Compose conf/config.yaml with overrides; composition errors become one-line ConfigErrors."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            return compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)
    except HydraException as exc:
        cause = exc.__cause__ or exc
        msg = str(cause).strip().splitlines()[0]
        key = getattr(cause, "full_key", None)
        raise ConfigError(f"{key}: {msg}" if key and key not in msg else msg) from exc


def load_config(overrides: list[str]):
    """The validated, typed config for these overrides (what a run would use); the method's settings are checked."""
    from .core.config import validate
    from .methods.base import load_method
    from .plugins import is_spec

    cfg = validate(compose_config(overrides))
    load_method(cfg.method)
    if is_spec(cfg.teacher.backend):
        from .teachers import backend_class
        backend_class(cfg.teacher.backend)
    return cfg
