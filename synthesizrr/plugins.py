"""Classes named in a config by `package.module:Class` or `path/to/file.py:Class` (a method's impl, a teacher
backend): how a user plugs in code without editing the package."""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from .core.errors import ConfigError


def is_spec(value: str) -> bool:
    return ":" in value and "://" not in value


def load_class(spec: str, base: type, key: str) -> type:
    """The class `spec` names, checked to subclass `base`; ConfigError (one line naming `key`) otherwise."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ConfigError(f"{key}={spec!r} is not allowed: use 'package.module:Class' or 'path/to/file.py:Class'")
    if target.endswith(".py"):
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"{key}={spec!r}: file {path} does not exist (relative paths start at the current folder)")
        name = f"synthesizrr_plugin_{hashlib.sha1(str(path).encode()).hexdigest()[:12]}"
        if name not in sys.modules:
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
        module = sys.modules[name]
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ConfigError(f"{key}={spec!r}: cannot import {target} ({exc})") from exc
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(f"{key}={spec!r}: {attr} is not a {base.__name__} subclass in {target}")
    return cls
