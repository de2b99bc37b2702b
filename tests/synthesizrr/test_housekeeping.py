import json
import sqlite3

import pytest

from synthesizrr.housekeeping import clean, main, size_report


@pytest.fixture
def store(tmp_path):
    s = tmp_path / "store"
    for stage, key in [("prepare", "p1"), ("synthesize", "s1"), ("synthesize", "s_old"), ("filter", "f1")]:
        (s / stage / key).mkdir(parents=True)
        (s / stage / key / "x.jsonl").write_text("data" * 100)
    (s / "synthesize" / "s1" / "call_keys.txt").write_text("c1\nc2\n")
    (s / ".partial" / "index" / "stale").mkdir(parents=True)
    with sqlite3.connect(s / "teacher_cache.sqlite") as con:
        con.execute("CREATE TABLE calls (key TEXT PRIMARY KEY, text TEXT)")
        con.executemany("INSERT INTO calls VALUES (?, ?)", [("c1", "a"), ("c2", "b"), ("c3", "c")])
    runs = tmp_path / "results" / "exp" / "runs"
    runs.mkdir(parents=True)
    (runs / "r.json").write_text(json.dumps({"store_dir": str(s), "stage_keys": {"prepare": "p1", "synthesize": "s1",
                                                                                 "filter": "f1"}}))
    return s


def test_size_counts_stages_and_calls(store):
    rep = size_report(store)
    assert rep["stages"]["synthesize"]["entries"] == 2
    assert rep["teacher_cache"]["calls"] == 3
    assert rep["total_bytes"] > 0


def test_clean_lists_first_then_removes_only_unused(store, tmp_path):
    lines = []
    plan = clean(store, tmp_path / "results", yes=False, echo=lines.append)
    assert plan["dirs"] == 2 and plan["calls"] == 1  # s_old and the stale partial; call c3
    assert (store / "synthesize" / "s_old").exists()
    assert any("would remove" in l and "s_old" in l for l in lines)
    clean(store, tmp_path / "results", yes=True, echo=lines.append)
    assert not (store / "synthesize" / "s_old").exists() and (store / "synthesize" / "s1").exists()
    with sqlite3.connect(store / "teacher_cache.sqlite") as con:
        assert {k for (k,) in con.execute("SELECT key FROM calls")} == {"c1", "c2"}


def test_missing_store_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main(["size", "--store", str(tmp_path / "none")])
    assert err.value.code == 2 and "no run store" in capsys.readouterr().err


def test_store_command_reads_the_pipelines_settings_and_refuses_without_run_records(store, tmp_path, monkeypatch,
                                                                                     capsys):
    """Pointed at a store whose results live elsewhere, clean used to list every stage output as unused."""
    monkeypatch.setenv("SYNTHESIZRR_STORE", str(store))
    monkeypatch.chdir(tmp_path / "results" / "exp")             # no results/ here: the defaults would be wrong
    with pytest.raises(SystemExit) as err:
        main(["clean", "--yes"])
    assert err.value.code == 2 and "no run record" in capsys.readouterr().err
    assert (store / "synthesize" / "s_old").exists() and (store / "prepare" / "p1").exists()
    monkeypatch.setenv("SYNTHESIZRR_RESULTS", str(tmp_path / "results"))
    main(["clean"])
    out = capsys.readouterr().out
    assert "keep 3 stage outputs and up to 2 teacher calls used by 1 run records" in out
    assert "would remove" in out and "s_old" in out and "p1" not in out.split("keep")[1].split("would")[0]
