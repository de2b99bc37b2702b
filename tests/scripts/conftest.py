"""Run the data/corpus recipes of scripts/ in-process on the hand-written samples in fixtures/."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
_MODULES = {}


def load_recipe(name: str):
    """scripts/prepare_<name>.py as a module (scripts/_common.py is found through the script's own sys.path entry)."""
    if name not in _MODULES:
        spec = importlib.util.spec_from_file_location(f"prepare_{name}", SCRIPTS / f"prepare_{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _MODULES[name] = module
    return _MODULES[name]


@pytest.fixture
def run_recipe(capsys, monkeypatch):
    """run_recipe(name, *args) -> (exit code, stdout, stderr); SYNTHESIZRR_* roots are unset unless a test sets them."""
    for var in ("SYNTHESIZRR_DATA_ROOT", "SYNTHESIZRR_CORPUS_ROOT", "SYNTHESIZRR_RAW_ROOT"):
        monkeypatch.delenv(var, raising=False)

    def run(name, *args):
        try:
            code = load_recipe(name).main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def common():
    sys.path.insert(0, str(SCRIPTS))
    import _common
    return _common


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def scripts_dir() -> Path:
    return SCRIPTS


@pytest.fixture(scope="session")
def read_jsonl():
    def read(path):
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f]
    return read
