"""A terminal people can read: stage lines on the console, details in the run's log file, and the run (or the
sweep) ends by showing its table and where the results are."""
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def cli(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "synthesizrr.cli", *args, "experiment=smoke", "method=gold",
                           "tracking=none", f"store_dir={tmp_path}/store", f"results_dir={tmp_path}/results",
                           f"hydra.run.dir={tmp_path}/out", f"hydra.sweep.dir={tmp_path}/multirun"],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1"})


def test_a_run_ends_with_its_table_and_results_path_and_keeps_details_in_its_log(tmp_path):
    proc = cli(tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout.splitlines()
    results = tmp_path / "results" / "smoke"
    assert f"Results: {results}" in proc.stdout
    table = (results / "table.md").read_text().splitlines()
    assert out[out.index(f"Results: {results} (tables in md, csv and tex; plots; runs/*.json)") + 2] == table[0]
    assert "| bbc_news | - | Gold |" in proc.stdout
    assert len(out) < 30 and "LOAD REPORT" not in proc.stdout + proc.stderr    # a model-loading report: log only
    assert "run summary" not in proc.stdout
    [log] = (tmp_path / "out").glob("*.log")
    text = log.read_text()
    assert "LOAD REPORT" in text and "stage distill: done" in text      # details and stage keys are in the log


def test_a_sweep_prints_its_table_once_at_the_end(tmp_path):
    proc = cli(tmp_path, "-m", "filter.num_samples=8,10")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("Results: ") == 1
    tail = proc.stdout[proc.stdout.index("Results: "):]
    assert tail.count("| bbc_news | - | Gold |") == 2                     # both points, in the one final table
    assert "filter.num_samples=8" in tail and "filter.num_samples=10" in tail   # what tells the rows apart
