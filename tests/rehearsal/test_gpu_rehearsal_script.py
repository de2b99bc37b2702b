"""scripts/gpu_rehearsal.py cannot meet a GPU here: its CPU path runs the same code on the stand-in hub, and a
missing wheel is named in one line before anything loads."""
import importlib.util
import subprocess
import sys

import pytest

from .conftest import REPO

SCRIPT = REPO / "scripts" / "gpu_rehearsal.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_rehearsal", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_cpu_path_runs_every_stage(standin_hub, tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--hub", str(standin_hub.root), "--device", "cpu", "--quick"],
                          env={**env, "WANDB_MODE": "disabled"}, cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    rows = {line.split("|")[0].strip(): line for line in proc.stdout.splitlines() if line.count("|") == 4}
    assert set(rows) >= {"retriever", "teacher", "student", "featurizer"}
    assert "FAILED" not in proc.stdout and "dim 64" in rows["retriever"] and "loss" in rows["student"]


def test_a_missing_wheel_is_named_in_one_line(monkeypatch, capsys, tmp_path):
    script = load_script()
    monkeypatch.setitem(script.REQUIRED, "no_such_module_for_this_test", "no-such-wheel")
    assert script.main(["--hub", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["gpu_rehearsal: missing package(s): no-such-wheel; install their wheels (scripts/gpu_rehearsal.sh "
                   "prepare DIR downloads them here)"]
    assert script.main(["--missing"]) == 0 and capsys.readouterr().out.split() == ["no-such-wheel"]


def test_a_folder_without_a_hub_is_refused_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match="holds no stand-in hub"):
        load_script().use_hub(tmp_path)
