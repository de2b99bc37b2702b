"""Independent sweep points: a point that fails on its data is reported in one line, the other points finish, and
the command exits non-zero with a summary (real multiruns in a subprocess, in-process and with joblib)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synthesizrr import sweeps
from synthesizrr.testing.fake_llm_server import FakeLLMServer

BAND_ERROR = "no retrieved document fell in retriever.gen_band=[1.0, 1.0]"


@pytest.fixture(scope="module")
def server():
    with FakeLLMServer() as s:
        yield s


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sweep_store")


def multirun(store: Path, sweep_dir: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    """gold, synthesizrr and fewgen on the smoke experiment; synthesizrr's data fails (no document can score 1.0
    in the generation band), the other two do not retrieve and run to the filter stage."""
    cmd = [sys.executable, "-m", "synthesizrr.cli", "-m", "experiment=smoke", "method=gold,synthesizrr,fewgen",
           "method.num_shots=2", "corpus.max_docs=30", "teacher=openai_compatible", f"teacher.base_urls=[{url}]",
           "teacher.max_retries=0", "retriever.gen_band=[1.0,1.0]", "stage=filter", f"store_dir={store}",
           f"results_dir={store}/results", f"hydra.sweep.dir={sweep_dir}", "tracking=none", *extra]
    env = {**os.environ, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def check_sweep(proc: subprocess.CompletedProcess, sweep_dir: Path) -> None:
    assert proc.returncode == 2, proc.stderr[-3000:]
    outcomes = {o["label"]: o for o in sweeps.read_outcomes(sweep_dir)}
    assert {k: o["status"] for k, o in outcomes.items()} == {
        "#0 (method=gold)": "ok", "#1 (method=synthesizrr)": "failed", "#2 (method=fewgen)": "ok"}
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith(("synthesizrr:", "  #"))]
    assert lines[0] == f"synthesizrr: error: point #1 (method=synthesizrr) failed: {BAND_ERROR} for any of 20 " \
                       f"seeds; widen the band or check the corpus"
    assert lines[1] == f"synthesizrr: 1 of 3 sweep points failed (outcomes under {sweep_dir}):"
    assert lines[2].startswith(f"  #1 (method=synthesizrr): {BAND_ERROR}") and "(traceback: " in lines[2]
    assert "Traceback" not in proc.stderr                       # the traceback goes to the point's log only
    log = Path(outcomes["#1 (method=synthesizrr)"]["log"])
    assert log.parent == sweep_dir / "1" and "Traceback" in log.read_text() and "DataError" in log.read_text()


@pytest.mark.slow
def test_a_failing_point_does_not_stop_the_others(store, server, tmp_path):
    sweep_dir = tmp_path / "multirun"
    proc = multirun(store, sweep_dir, server.url)
    check_sweep(proc, sweep_dir)
    assert len(list((store / "filter").glob("*/final.jsonl"))) == 2   # gold and fewgen reached their last stage


@pytest.mark.slow
def test_joblib_points_write_outcomes_that_the_summary_reads(store, server, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    sweep_dir = tmp_path / "multirun"
    check_sweep(multirun(store, sweep_dir, server.url, "hydra/launcher=joblib_local"), sweep_dir)


def test_summary_names_points_that_died_and_exit_codes():
    ok = {"num": 0, "label": "#0 (method=gold)", "status": "ok"}
    died = {"num": 1, "label": "#1 (method=fewgen)", "status": "started"}
    data = {"num": 2, "label": "#2 (method=x)", "status": "failed", "error": "bad rows", "user_error": True,
            "log": "/x/2/cli.log"}
    bug = {**data, "user_error": False, "error": "KeyError: 'text'"}
    assert sweeps.summary([ok], Path("/s")) == [] and sweeps.exit_code([ok]) == 0
    assert sweeps.summary([ok, died, data], Path("/s")) == [
        "synthesizrr: 2 of 3 sweep points failed (outcomes under /s):",
        "  #1 (method=fewgen): no outcome recorded: the job died (killed, out of memory?); see its log",
        "  #2 (method=x): bad rows (traceback: /x/2/cli.log)"]
    assert sweeps.exit_code([ok, data]) == 2 and sweeps.exit_code([ok, bug]) == 1 and sweeps.exit_code([died]) == 1


def test_point_label_shows_the_swept_overrides(tmp_path):
    (tmp_path / "multirun.yaml").write_text(
        "hydra:\n  sweeper:\n    params:\n      method: gold,fewgen\n"
        "  overrides:\n    task: [experiment=x, 'seed=1,2', store_dir=s]\n")
    swept = sweeps.swept_keys(tmp_path)
    assert swept == {"method", "seed"}
    assert sweeps.point_label(3, ["experiment=x", "seed=2", "store_dir=s", "method=fewgen"], swept) == \
        "#3 (seed=2 method=fewgen)"
    assert sweeps.point_label(0, ["a=1"], sweeps.swept_keys(tmp_path / "none")) == "#0 (a=1)"


def test_a_new_sweep_into_the_same_folder_forgets_old_outcomes(tmp_path):
    from omegaconf import OmegaConf

    (tmp_path / "0").mkdir()
    (tmp_path / "0" / sweeps.OUTCOME).write_text(json.dumps({"num": 0, "label": "#0", "status": "failed"}))
    cfg = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    sweeps.SweepOutcomes().on_multirun_start(cfg)
    assert sweeps.read_outcomes(tmp_path) == []
    sweeps.SweepOutcomes().on_multirun_end(cfg)
    assert sweeps.result["exit_code"] == 0
