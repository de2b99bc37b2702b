"""W&B tracking in offline mode, checked in the offline run's own files: the .wandb record log (read with the
protobuf records the wandb package ships), the staged artifact files and the table files."""
import json
import struct

import pytest
from hydra import compose, initialize_config_dir

from synthesizrr.cli import CONF_DIR
from synthesizrr.core.config import validate
from synthesizrr.report import build_report

wandb = pytest.importorskip("wandb")
SECRET = "sk-test-Tr4ck1ngS3cr3tValue"


def wandb_records(path):
    """The records of an offline run's .wandb file: LevelDB log format (32 KiB blocks, 7-byte chunk headers
    crc32/length/type, 1 full, 2 first, 3 middle, 4 last) after a 7-byte ':W&B' file header."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, pos, buf, out = path.read_bytes(), 7, b"", []
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7]) if left >= 7 else (0, 0, 0)
        if left < 7 or (length == 0 and kind == 0):   # block trailer / padding
            pos += left
            continue
        buf = (b"" if kind in (1, 2) else buf) + data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            rec = pb.Record()
            rec.ParseFromString(buf)
            out.append(rec)
    return out


def fake_run(tmp_path):
    """A finished row as the pipeline leaves it: final.jsonl and results.json in the store, a report folder."""
    store, results = tmp_path / "store", tmp_path / "results" / "t"
    final = store / "filter" / "kf" / "final.jsonl"
    final.parent.mkdir(parents=True)
    rows = [{"text": f"text {i}", "label": "ab"[i % 2], "method": "fewgen", "shots": 3,
             "doc_id": None if i % 2 else f"d{i}", "prompt_id": f"p{i}"} for i in range(6)]
    final.write_text("".join(json.dumps(r) + "\n" for r in rows))
    per_seed = [{"seed": s, "accuracy": 0.5 + s / 10, "macro_f1": 0.4,
                 "per_epoch": [{"epoch": e, "accuracy": 0.3 + e / 10 + s / 100, "macro_f1": 0.3, "train_loss": 1 / e}
                               for e in (1, 2, 3)]} for s in (0, 1)]
    (store / "distill" / "kd").mkdir(parents=True)
    (store / "distill" / "kd" / "results.json").write_text(json.dumps({"per_seed": per_seed}))
    keys = {"filter": "kf", "distill": "kd"}
    rec = {"name": "t", "dataset": "ag", "teacher": "smol", "method": "FewGen 3-shot", "method_name": "fewgen",
           "method_family": "FewGen", "method_order": 20, "real_data": False, "num_shots": 3, "retriever": "r",
           "corpus": "c", "student": "s", "filter": "none", "seed": 1, "num_final": 6, "accuracy": 0.55,
           "stage_keys": keys, "intervals": {"accuracy": {"estimate": 0.55, "ci_low": -0.09, "ci_high": 1.19}},
           "size_warnings": ["2 student seeds: wide"], "config": {"teacher": {"api_key": "<redacted>"}}}
    (results / "runs").mkdir(parents=True)
    (results / "runs" / "row.json").write_text(json.dumps(rec))
    build_report([results], results)
    return {"stages": {k: {"key": v, "cached": False} for k, v in keys.items()}, "report_dir": str(results)}, rows


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory):
    """One offline run (W&B's home folders inside the test folder), shared by the tests below."""
    from synthesizrr.tracking import Tracker

    tmp_path = tmp_path_factory.mktemp("wandb")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
            mp.setenv(var, str(tmp_path / "wandb_home" / var.lower()))
        mp.setenv("WANDB_MODE", "offline")
        mp.setenv("MY_TRACKING_TOKEN", SECRET)
        mp.delenv("WANDB_API_KEY", raising=False)
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            node = compose("config", overrides=["experiment=smoke", f"store_dir={tmp_path}/store", "tracking=wandb",
                                                "tracking.mode=offline", "name=t"])
        summary, rows = fake_run(tmp_path)
        tracker = Tracker(validate(node), {"teacher": {"api_key": SECRET, "extra": {"headers": f"Bearer {SECRET}"}}},
                          "ag/FewGen")
        tracker.log_stage("evaluate", {"mauve": 0.9, "intervals": {"metrics": {"mauve": {"ci_low": 0.8}}}}, False)
        tracker.finish(summary)
    wandb.teardown()   # the service writes the .wandb file after finish() returns; this waits for it
    run_dir = next((tmp_path / "store" / "wandb").glob("offline-run-*"))
    records = wandb_records(next(run_dir.glob("run-*.wandb")))
    assert records and records[-1].WhichOneof("record_type") == "exit", "the offline run log is incomplete"
    return tmp_path, run_dir, records, rows


def test_final_dataset_and_tables_are_versioned_artifacts_of_the_run(offline_run):
    tmp_path, run_dir, records, rows = offline_run
    arts = {r.artifact.type: r.artifact for r in records if r.WhichOneof("record_type") == "artifact"}
    assert arts["dataset"].name == "ag-FewGen-3-shot-smol"
    entry = {c.path: c for c in arts["dataset"].manifest.contents}["final.jsonl"]
    staged = [json.loads(line) for line in open(entry.local_path)]
    assert staged == rows and entry.local_path.startswith(str(tmp_path))   # staged for `wandb sync`
    report_files = {c.path for c in arts["results"].manifest.contents}
    assert {"table.md", "table.csv", "table.tex", "vs_baseline.md", "metrics.png", "summary.json"} <= report_files
    assert arts["results"].name == "results-t"


def test_student_curves_use_the_epoch_as_their_step(offline_run):
    _, _, records, _ = offline_run
    metrics = [r.metric for r in records if r.WhichOneof("record_type") == "metric"]
    assert any(m.glob_name == "student/*" and m.step_metric == "student/epoch" for m in metrics)
    history = [{i.nested_key[0] if len(i.nested_key) == 1 else i.key: i.value_json for i in r.history.item}
               for r in records if r.WhichOneof("record_type") == "history"]
    epochs = [h for h in history if "student/epoch" in h]
    assert [json.loads(h["student/epoch"]) for h in epochs] == [1, 2, 3]
    assert json.loads(epochs[0]["student/seed_1/accuracy"]) == pytest.approx(0.41)
    assert json.loads(epochs[2]["student/mean/accuracy"]) == pytest.approx(0.605)


def test_tables_are_typed_columns_not_stringified_dicts(offline_run):
    _, run_dir, _, rows = offline_run
    table = json.loads(next((run_dir / "files" / "media" / "table" / "dataset").glob("final_*.table.json")).read_text())
    assert table["columns"] == ["text", "label", "method", "shots", "doc_id", "prompt_id"]
    assert table["data"][0] == ["text 0", "a", "fewgen", 3, "d0", "p0"] and table["data"][1][4] is None
    report = json.loads(next((run_dir / "files" / "media" / "table" / "report").glob("table_*.table.json")).read_text())
    assert report["columns"][:3] == ["Dataset", "Teacher", "Method"] and "55.0 [-9.0, 119.0]" in report["data"][0]


def test_no_secret_in_any_file_of_the_offline_run_or_its_staged_artifacts(offline_run):
    tmp_path, _, records, _ = offline_run
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files) and any("staging" in str(p) for p in files)
    assert not [str(p) for p in files if SECRET.encode() in p.read_bytes()]
