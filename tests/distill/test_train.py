"""train_students on real BBC ledes with the packaged MiniLM: learning, multi-seed statistics, skipping finished
seeds, resuming from an epoch checkpoint after a real kill, and clear errors on bad input."""
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

import distill.train as train_mod
from distill.train import train_students

REPO = Path(__file__).resolve().parents[2]


def _count_trainings(monkeypatch) -> list:
    calls = []
    real = train_mod.train_one_seed

    def spy(*args, **kwargs):
        calls.append(args[4])  # the seed
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "train_one_seed", spy)
    return calls


def test_minilm_learns_and_aggregates_seeds(ledes, labels, minilm, tmp_path, monkeypatch):
    train, test = ledes[:200], ledes[200:400]
    calls = _count_trainings(monkeypatch)
    one = train_students(train, test, labels, minilm(seeds=[0]), tmp_path, progress=False)
    assert one["accuracy_mean"] > 0.35  # chance is 0.2 (5 labels), majority 0.23
    # Adding a seed reuses the finished one (the run key ignores the seed list) and trains only the new one.
    two = train_students(train, test, labels, minilm(seeds=[0, 1]), tmp_path, progress=False)
    assert calls == [0, 1] and (tmp_path / "seed_1.json").exists()
    assert two["per_seed"][0] == one["per_seed"][0]
    accs = [r["accuracy"] for r in two["per_seed"]]
    f1s = [r["macro_f1"] for r in two["per_seed"]]
    assert two["accuracy_mean"] == pytest.approx(statistics.fmean(accs))
    assert two["accuracy_std"] == pytest.approx(statistics.stdev(accs))
    assert (two["accuracy_min"], two["accuracy_max"]) == (min(accs), max(accs))
    assert two["macro_f1_mean"] == pytest.approx(statistics.fmean(f1s))
    assert two["macro_f1_std"] == pytest.approx(statistics.stdev(f1s))
    assert sum(map(sum, two["confusion_matrix"])) == 2 * len(test)
    assert two["labels"] == labels and two["num_train"] == 200 and two["device"] == "cpu"
    losses = [r["per_epoch"][0]["train_loss"] for r in two["per_seed"]]
    assert losses[0] != losses[1]  # the seeds really differ
    for rec in two["per_seed"]:
        assert [e["epoch"] for e in rec["per_epoch"]] == [1]
        assert rec["per_epoch"][-1]["accuracy"] == rec["accuracy"] and set(rec["per_class_f1"]) == set(labels)
    # A full rerun trains nothing and returns the same numbers.
    assert train_students(train, test, labels, minilm(seeds=[0, 1]), tmp_path, progress=False) == two
    assert calls == [0, 1]
    assert not list((tmp_path / "_work").glob("*.pt"))
    # Results of another config in the same folder are refused, not silently mixed.
    with pytest.raises(ValueError, match="seed_0.json holds results of another student config"):
        train_students(train, test, labels, minilm(lr=1e-4), tmp_path, progress=False)


RUN = """
import json, sys
from distill.train import train_students
from synthesizrr.core.config import StudentConfig
data = json.load(open(sys.argv[1]))
cfg = StudentConfig(**data["cfg"])
train_students(data["train"], data["test"], data["labels"], cfg, sys.argv[2], progress=False)
"""


def test_resume_after_kill_continues_from_epoch_checkpoint(ledes, labels, minilm, tmp_path):
    cfg = minilm(epochs=2, batch_size=16, max_length=32)
    train, test = ledes[:96], ledes[400:448]
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"cfg": vars(cfg), "train": train, "test": test, "labels": labels}))
    out = tmp_path / "killed"
    ckpt = out / "_work" / "seed_0.pt"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}  # as the one_torch_thread fixture
    proc = subprocess.Popen([sys.executable, "-c", RUN, str(spec), str(out)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    assert ckpt.exists(), f"no epoch checkpoint appeared: {proc.stderr.read().decode()[-500:]}"
    assert not (out / "seed_0.json").exists(), "the run finished before it could be killed"

    resumed = train_students(train, test, labels, cfg, out, progress=False)
    fresh = train_students(train, test, labels, cfg, tmp_path / "fresh", progress=False)
    got, want = resumed["per_seed"][0], fresh["per_seed"][0]
    assert got["resumed_from_epoch"] == 1 and want["resumed_from_epoch"] == 0
    assert not ckpt.exists()  # deleted once the seed finished
    for a, b in zip(got["per_epoch"], want["per_epoch"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["accuracy"] == pytest.approx(b["accuracy"], abs=1 / len(test))


def test_bad_inputs_fail_or_warn_clearly(ledes, labels, minilm, tmp_path):
    bad = ledes[:10] + [{"text": "x", "label": "weather"}]
    with pytest.raises(ValueError, match=r"train example 10 has label 'weather', not in the label set"):
        train_students(bad, ledes[10:20], labels, minilm(), tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"test example 0 has label 'weather'"):
        train_students(ledes[:10], [{"text": "x", "label": "weather"}], labels, minilm(), tmp_path, progress=False)
    few = [ex for ex in ledes if ex["label"] != "tech"][:6]
    with pytest.warns(UserWarning) as caught:
        result = train_students(few, ledes[:8], labels, minilm(model="offline:deberta_tiny"), tmp_path / "few",
                                progress=False)
    messages = " | ".join(str(w.message) for w in caught)
    assert "no examples of label(s) ['tech']" in messages and "'tech': 0" in messages
    assert "only 6 training examples, fewer than one effective batch (32 x 1)" in messages
    assert result["num_train"] == 6
