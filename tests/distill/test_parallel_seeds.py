"""Student seeds in worker processes, one (faked) GPU each: the workers' GPUs are disjoint and cover the visible
set, every seed's result equals a sequential run's, and the run key ignores parallel_seeds so results resume."""
import json
import shutil

import pytest

from distill.train import _train_and_save, seed_workers, train_students
from synthesizrr.core.errors import ConfigError
from synthesizrr.core.gpus import FAKE, TRACE


def fake_gpus(monkeypatch, visible: str, count: int):
    monkeypatch.setenv(FAKE, str(count))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)


def timeless(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "train_seconds"}


def test_two_workers_on_their_own_gpus_give_the_sequential_results(ledes, labels, minilm, tiny_bert, tmp_path,
                                                                   monkeypatch):
    train, test = ledes[:24], ledes[24:40]
    cfg = minilm(model=tiny_bert, seeds=[0, 1, 2], epochs=2, batch_size=8, lr=1e-3, max_length=24, device="auto")
    seq = train_students(train, test, labels, minilm(**{**cfg.__dict__, "parallel_seeds": "1"}), tmp_path / "seq",
                         progress=False)
    fake_gpus(monkeypatch, "0,1", 2)
    monkeypatch.setenv(TRACE, str(tmp_path / "trace.jsonl"))
    par = train_students(train, test, labels, cfg, tmp_path / "par", progress=False)   # auto: 2 GPUs, 3 seeds
    workers = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    assert [w["role"] for w in workers] == ["student"] * 2 and len({w["pid"] for w in workers}) == 2
    assert sorted(w["devices"] for w in workers) == ["0", "1"]       # disjoint, and together the visible set
    assert [timeless(r) for r in par["per_seed"]] == [timeless(r) for r in seq["per_seed"]]
    losses = [r["per_epoch"][-1]["train_loss"] for r in par["per_seed"]]
    assert len(set(losses)) == 3                                      # the seeds really differ
    assert {k: v for k, v in par.items() if k != "per_seed"} == {k: v for k, v in seq.items() if k != "per_seed"}
    for seed in (0, 1, 2):
        assert json.loads((tmp_path / "par" / f"seed_{seed}.json").read_text())["key"] == seq["per_seed"][0]["key"]
    assert not (tmp_path / "par" / "_work").exists()                  # removed once every worker is done
    # finished seeds resume whatever the setting: a sequential run's files serve a parallel one and back
    shutil.copy(tmp_path / "seq" / "seed_1.json", tmp_path / "par" / "seed_1.json")
    again = train_students(train, test, labels, minilm(**{**cfg.__dict__, "parallel_seeds": "1"}), tmp_path / "par",
                           progress=False)
    assert [timeless(r) for r in again["per_seed"]] == [timeless(r) for r in par["per_seed"]]
    assert len((tmp_path / "trace.jsonl").read_text().splitlines()) == 2   # no worker started


@pytest.mark.parametrize("setting,device,visible,count,todo,expected", [
    ("auto", "auto", "0,1,2,3", 4, 5, (4, ["0", "1", "2", "3"])),   # one worker per GPU
    ("auto", "cuda", "0,1,2,3", 4, 2, (2, ["0", "1", "2", "3"])),   # at most one per seed
    ("auto", "auto", "2,5", 8, 5, (2, ["2", "5"])),                 # only the GPUs this process may use
    ("auto", "auto", "", 0, 5, (1, [])),                            # no GPU: sequential
    ("auto", "cuda:1", "0,1", 2, 5, (1, ["0", "1"])),               # a chosen GPU: sequential
    ("3", "cpu", "0,1", 2, 5, (3, [])),                             # CPU workers when asked
    ("6", "auto", "0,1", 2, 5, (5, ["0", "1"])),                    # more workers than GPUs: they share
    ("1", "auto", "0,1", 2, 5, (1, ["0", "1"])),
])
def test_how_many_workers_and_on_which_gpus(minilm, monkeypatch, setting, device, visible, count, todo, expected):
    fake_gpus(monkeypatch, visible, count)
    assert seed_workers(minilm(parallel_seeds=setting, device=device), todo) == expected


def test_bad_parallel_seeds_settings_are_named(minilm, monkeypatch):
    fake_gpus(monkeypatch, "0,1", 2)
    with pytest.raises(ValueError, match="student.device=cuda:1 does not allow"):
        seed_workers(minilm(parallel_seeds="2", device="cuda:1"), 5)
    for bad in ("0", "two", "-1"):
        with pytest.raises(ConfigError, match=f"student.parallel_seeds='{bad}' is not allowed: use auto or an"):
            minilm(parallel_seeds=bad)


def test_a_finished_seed_leaves_the_shared_work_folder_to_the_others(ledes, labels, minilm, tiny_bert, tmp_path):
    """A worker that removed the emptied work folder could do so between another seed's mkdir and checkpoint
    write (that seed then failed: "Parent directory .../_work does not exist"); only the parent removes it."""
    cfg = minilm(model=tiny_bert, seeds=[0], epochs=2, batch_size=8, max_length=24)   # a checkpoint after epoch 1
    work = tmp_path / "_work"
    _train_and_save(0, ledes[:16], ledes[16:24], labels, cfg, tmp_path, work, "key", progress=False)
    assert (tmp_path / "seed_0.json").exists() and work.is_dir() and not list(work.iterdir())
