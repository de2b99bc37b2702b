"""Reports from run records (real files) and the dataset export with its card; the Hub push goes to a loopback
server that stands in for the Hub (huggingface_hub and datasets run unpatched against it)."""
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from synthesizrr.export import export, size_category
from synthesizrr.report import accuracy_rows, build_report, comparison_rows, main as report_main


FAMILY = {"gold": ("Gold", 0), "fewgen": ("FewGen", 20), "synthesizrr": ("SynthesizRR RetrICL", 50)}


def record(method, method_name, shots, dataset="ag", acc=0.8, **kw):
    family, order = FAMILY[method_name]
    return {"name": "t", "dataset": dataset, "teacher": "smol", "method": method, "method_name": method_name,
            "method_family": family, "method_order": order, "real_data": method_name == "gold",
            "num_shots": shots, "retriever": "r", "corpus": "c", "student": "s", "filter": "none",
            "seed": 1, "num_final": 100, "accuracy": acc, "accuracy_std": 0.02, "macro_f1": acc - 0.1,
            "self_bleu_5": 0.3, "entity_entropy_log2": 7.5, "mauve": 0.9, "distinct_2": 0.6, **kw}


def write_runs(folder, recs):
    (folder / "runs").mkdir(parents=True)
    for i, r in enumerate(recs):
        (folder / "runs" / f"{i}.json").write_text(json.dumps(r))


def test_tables_order_rows_and_format_mean_std(tmp_path):
    recs = [record("SynthesizRR RetrICL 3-shot", "synthesizrr", 3, acc=0.85),
            record("Gold", "gold", 0, acc=0.9, teacher="-"), record("FewGen 32-shot", "fewgen", 32, acc=0.7),
            record("FewGen 32-shot", "fewgen", 32, dataset="imdb", acc=0.6)]
    header, rows = comparison_rows(recs)
    assert [r[2] for r in rows if r[0] == "ag"] == ["Gold", "FewGen 32-shot", "SynthesizRR RetrICL 3-shot"]
    assert "85.0 ± 2.0" in rows[2]
    header, rows = accuracy_rows(recs)
    assert header == ["Method", "ag", "imdb"]
    fewgen = next(r for r in rows if r[0].startswith("FewGen"))
    assert fewgen[1:] == ["70.0 ± 2.0", "60.0 ± 2.0"]


def test_build_report_writes_tables_plots_and_sweep(tmp_path):
    runs = tmp_path / "exp"
    write_runs(runs, [record(f"FewGen {k}-shot", "fewgen", k, acc=0.5 + k / 100) for k in (0, 1, 3)]
               + [record(f"SynthesizRR RetrICL {k}-shot", "synthesizrr", k) for k in (0, 3)])
    written = build_report([runs], runs)
    for name in ("table.md", "table.csv", "table.tex", "accuracy_by_dataset.md", "metrics.png", "shots_sweep.png"):
        assert (runs / name).stat().st_size > 0, name
    assert runs / "shots_sweep.png" in written
    csv_lines = (runs / "table.csv").read_text().splitlines()
    assert len(csv_lines) == 6 and csv_lines[0].startswith("Dataset,Teacher,Method")


def test_no_sweep_plot_without_shot_variation(tmp_path):
    write_runs(tmp_path, [record("Gold", "gold", 0), record("FewGen 32-shot", "fewgen", 32)])
    assert tmp_path / "shots_sweep.png" not in build_report([tmp_path], tmp_path)


def test_report_cli_merges_folders_and_rejects_bad_input(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    write_runs(a, [record("Gold", "gold", 0, dataset="ag")])
    write_runs(b, [record("Gold", "gold", 0, dataset="imdb")])
    report_main([str(a), str(b), "--out", str(tmp_path / "both")])
    assert "imdb" in (tmp_path / "both" / "accuracy_by_dataset.md").read_text()
    with pytest.raises(SystemExit) as err:
        report_main([str(tmp_path / "missing")])
    assert err.value.code == 2


def test_export_writes_data_and_card(tmp_path):
    store = tmp_path / "store"
    final = store / "filter" / "k1" / "final.jsonl"
    final.parent.mkdir(parents=True)
    rows = [{"text": f"t{i}", "label": "ab"[i % 2], "method": "fewgen", "shots": 3, "doc_id": None,
             "prompt_id": f"p{i}"} for i in range(6)]
    final.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rec = record("FewGen 3-shot", "fewgen", 3, stage_keys={"filter": "k1"}, store_dir=str(store),
                 config={"teacher": {"backend": "llamacpp", "model": "offline:smollm2", "api_key_env": "X_KEY"}})
    (tmp_path / "run.json").write_text(json.dumps(rec))
    out = export(tmp_path / "run.json", tmp_path / "out")
    assert [json.loads(l) for l in (out / "train.jsonl").open()] == rows
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "| a | 3 |" in card and "mauve | 0.9000" in card
    assert "offline:smollm2" in card
    proc = subprocess.run([sys.executable, "-c", "from synthesizrr.export import main; main()", str(tmp_path / "nope.json"),
                           "--out", str(tmp_path / "o2")], capture_output=True, text=True)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    rec["stage_keys"]["filter"] = "gone"
    (tmp_path / "run.json").write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="not in the store"):
        export(tmp_path / "run.json", tmp_path / "o3")


def test_entity_entropy_pooled_and_per_label_mean_are_two_named_columns_with_per_label_csv(tmp_path):
    per_type = {"GPE": 2.0, "ORG": 3.5, "PERSON": 4.0}
    write_runs(tmp_path, [record("Gold", "gold", 0, entity_entropy_per_type_mean_log2=3.1667,
                                 entity_entropy_per_type_log2=per_type, fidelity="reference",
                                 fidelity_departures=["retriever.dedup"])])
    build_report([tmp_path], tmp_path)
    table = (tmp_path / "table.md").read_text()
    assert "Entity entropy, pooled (bits)" in table and "Entity entropy, mean per NER label (bits)" in table
    assert "| 7.50 | 3.17 |" in table
    assert "reference*" in table and "reference* (retriever.dedup)" in table   # the departure is named
    lines = (tmp_path / "entity_entropy_by_label.csv").read_text().splitlines()
    assert lines[0] == "Dataset,Teacher,Method,Fidelity,GPE,ORG,PERSON" and lines[1].endswith("2.00,3.50,4.00")


def test_scrub_redacts_secrets_by_key_and_by_value_but_keeps_settings(monkeypatch):
    from synthesizrr.tracking import scrub

    monkeypatch.setenv("MY_SERVICE_API_KEY", "sk-live-0123456789abcdef")
    cfg = {"corpus": {"max_tokens": 400, "min_tokens": 20}, "dataset": {"max_num_tokens": 200},
           "metrics": {"self_bleu_tokenizer": "spacy"}, "teacher": {"api_key_env": "MY_SERVICE_API_KEY",
           "extra": {"headers": "Bearer sk-live-0123456789abcdef"}, "api_key": "oops"}}
    out = scrub(cfg)
    assert out["corpus"] == {"max_tokens": 400, "min_tokens": 20} and out["dataset"]["max_num_tokens"] == 200
    assert out["metrics"]["self_bleu_tokenizer"] == "spacy" and out["teacher"]["api_key_env"] == "MY_SERVICE_API_KEY"
    assert out["teacher"]["api_key"] == "<redacted>" and "sk-live" not in json.dumps(out)


def card_run(tmp_path, n=6):
    """A run record with intervals and size warnings, and its final dataset in a store."""
    store = tmp_path / "store"
    final = store / "filter" / "k1" / "final.jsonl"
    final.parent.mkdir(parents=True)
    rows = [{"text": f"t{i}", "label": "ba"[i % 2], "method": "fewgen", "shots": 3, "doc_id": None,
             "prompt_id": f"p{i}"} for i in range(n)]
    final.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rec = record("FewGen 3-shot", "fewgen", 3, stage_keys={"filter": "k1"}, store_dir=str(store), labels=["b", "a"],
                 intervals={"mauve": {"estimate": 0.9, "ci_low": 0.81, "ci_high": 0.97}}, interval_confidence=0.95,
                 size_warnings=["6 texts (< 500): intervals over texts are too narrow"], fidelity="reference",
                 fidelity_departures=["retriever.dedup"], config={"teacher": {"backend": "llamacpp", "model": "m"}})
    (tmp_path / "run.json").write_text(json.dumps(rec))
    return rows


def test_card_is_a_dataset_card_with_real_size_category_intervals_and_caveats(tmp_path):
    from huggingface_hub import DatasetCard

    card_run(tmp_path)
    card = DatasetCard.load(export(tmp_path / "run.json", tmp_path / "out") / "README.md")
    meta = card.data.to_dict()
    assert meta["size_categories"] == ["n<1K"] and meta["task_categories"] == ["text-classification"]
    assert {"synthetic", "synthesizrr"} <= set(meta["tags"]) and meta["language"] == ["en"]
    assert "| mauve | 0.9000 | [0.8100, 0.9700] |" in card.text and "## Counts (6 examples)" in card.text
    assert "- 6 texts (< 500): intervals over texts are too narrow" in card.text   # report.notes as caveats
    assert "reference* (retriever.dedup)" in card.text
    assert [size_category(n) for n in (999, 1000, 6640, 10_000, 2_000_000)] == [
        "n<1K", "1K<n<10K", "1K<n<10K", "10K<n<100K", "1M<n<10M"]


class LoopbackHub:
    """The few Hub endpoints a dataset push uses, in memory: create repo, validate card, preupload (parquet through
    LFS, as the Hub's .gitattributes has it), LFS batch and upload, commit, repo info, tree and file download."""

    def __init__(self):
        self.files, self.lfs, self.commits, self.sha = {}, {}, [], "0" * 40
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send(self, code, body=b"", ctype="application/json", headers=()):
                body = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(code)
                for k, v in [("Content-Type", ctype), ("Content-Length", str(len(body))), *headers]:
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def body(self):
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self):
                hub.route(self, b"")

            do_HEAD = do_GET

            def do_POST(self):
                hub.route(self, self.body())

            do_PUT = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _entry(self, path):
        return {"type": "file", "path": path, "size": len(self.files[path]),
                "oid": hashlib.sha1(self.files[path]).hexdigest()}

    def _tree(self, folder):
        entries, seen = [], set()
        for path in self.files:
            rest = path[len(folder) + 1:] if folder else path
            if folder and not path.startswith(folder + "/"):
                continue
            if "/" not in rest:
                entries.append(self._entry(path))
            elif (sub := f"{folder}/{rest.split('/')[0]}".strip("/")) not in seen:
                seen.add(sub)
                entries.append({"type": "directory", "path": sub, "oid": "0" * 40, "size": 0})
        return entries

    def _commit(self, h, repo, body):
        ops = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        for op in ops:
            v = op["value"]
            if op["key"] == "file":
                self.files[v["path"]] = base64.b64decode(v["content"])
            elif op["key"] == "lfsFile":
                self.files[v["path"]] = self.lfs[v["oid"]]
            elif op["key"] == "deletedFile":
                self.files.pop(v["path"], None)
        self.commits.append(ops[0]["value"]["summary"])
        self.sha = hashlib.sha1(str(len(self.commits)).encode()).hexdigest()
        h.send(200, {"commitUrl": f"{self.url}/datasets/{repo}/commit/{self.sha}", "commitOid": self.sha})

    def route(self, h, body):
        path, repo = unquote(urlparse(h.path).path), r"/api/datasets/(?P<repo>[^/]+/[^/]+)"
        missing = (404, {"error": "not found"}, "application/json", [("X-Error-Code", "EntryNotFound")])
        if path == "/api/repos/create":
            req = json.loads(body)
            return h.send(200, {"url": f"{self.url}/datasets/{req.get('organization') or 'me'}/{req['name']}"})
        if path == "/api/validate-yaml":
            return h.send(200, {})
        if re.fullmatch(repo + r"/preupload/[^/]+", path):
            return h.send(200, {"files": [{"path": f["path"], "shouldIgnore": False, "uploadMode": "lfs" if
                                           f["path"].endswith(".parquet") else "regular"} for f in json.loads(body)["files"]]})
        if path.endswith(".git/info/lfs/objects/batch"):
            return h.send(200, {"transfer": "basic", "objects": [
                {"oid": o["oid"], "size": o["size"], "actions": {"upload": {"href": f"{self.url}/lfs/{o['oid']}"}}}
                for o in json.loads(body)["objects"]]})
        if m := re.fullmatch(r"/lfs/(?P<oid>\w+)", path):
            self.lfs[m["oid"]] = body
            return h.send(200, {})
        if m := re.fullmatch(repo + r"/commit/[^/]+", path):
            return self._commit(h, m["repo"], body)
        if m := re.fullmatch(repo + r"(/revision/[^/]+)?", path):
            return h.send(200, {"id": m["repo"], "sha": self.sha, "siblings": [{"rfilename": p} for p in self.files]})
        if m := re.fullmatch(repo + r"/tree/[^/]+(?P<dir>/.*)?", path):
            folder = (m["dir"] or "").strip("/")
            return h.send(*missing) if folder and not self._tree(folder) else h.send(200, self._tree(folder))
        if re.fullmatch(repo + r"/paths-info/[^/]+", path):
            return h.send(200, [self._entry(p) for p in parse_qs(body.decode()).get("paths", []) if p in self.files])
        if (m := re.fullmatch(r"/datasets/[^/]+/[^/]+/resolve/[^/]+/(?P<file>.+)", path)) and m["file"] in self.files:
            data = self.files[m["file"]]
            return h.send(200, data, "application/octet-stream",
                          [("ETag", f'"{hashlib.sha1(data).hexdigest()}"'), ("X-Repo-Commit", self.sha)])
        h.send(*missing)


def test_push_uploads_the_card_then_the_classlabel_dataset_whose_metadata_joins_the_card(tmp_path):
    import pyarrow.parquet as pq
    from huggingface_hub import DatasetCard

    rows = card_run(tmp_path)
    hub = LoopbackHub()
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_loopback", "HF_HUB_OFFLINE": "0",
           "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp_path / "hf_home"), "HF_DATASETS_OFFLINE": "0"}
    proc = subprocess.run([sys.executable, "-c", "from synthesizrr.export import main; main()", str(tmp_path / "run.json"),
                           "--out", str(tmp_path / "out"), "--push-to-hub", "me/synthetic"], env=env,
                          capture_output=True, text=True, timeout=300)
    hub.server.shutdown()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert hub.commits == ["Dataset card (synthesizrr-export)", "Dataset (synthesizrr-export)"]
    card = DatasetCard(hub.files["README.md"].decode())
    meta = card.data.to_dict()
    assert meta["size_categories"] == ["n<1K"] and "synthesizrr" in meta["tags"]   # our metadata survived ...
    label = next(f for f in meta["dataset_info"]["features"] if f["name"] == "label")   # ... next to push_to_hub's
    assert label["dtype"]["class_label"]["names"] == {"0": "b", "1": "a"}   # the dataset's order, not sorted
    assert meta["dataset_info"]["splits"][0]["num_examples"] == 6 and meta["configs"][0]["config_name"] == "default"
    assert "## Counts (6 examples)" in card.text and "| mauve | 0.9000 | [0.8100, 0.9700] |" in card.text
    parquet = tmp_path / "pushed.parquet"
    parquet.write_bytes(next(v for k, v in hub.files.items() if k.endswith(".parquet")))
    table = pq.read_table(parquet).to_pylist()
    assert [r["label"] for r in table] == [0 if r["label"] == "b" else 1 for r in rows]
    assert [r["text"] for r in table] == [r["text"] for r in rows]


def test_supersede_moves_only_rows_of_the_same_setting_with_other_keys(tmp_path):
    from synthesizrr.report import supersede
    cfg = {"seed": 1, "teacher": {"weights": "f16"}, "name": "q", "store_dir": "/a", "verbose": False}
    rows = {"old": record("FewGen 32-shot", "fewgen", 32, config=cfg, stage_keys={"filter": "k1"}),
            "seed2": record("FewGen 32-shot", "fewgen", 32, config={**cfg, "seed": 2}, stage_keys={"filter": "k2"}),
            "new": record("FewGen 32-shot", "fewgen", 32, config=cfg, stage_keys={"filter": "k3"})}
    for sub in ("runs", "samples", "replicates"):
        (tmp_path / sub).mkdir()
    for slug, rec in rows.items():
        (tmp_path / "runs" / f"{slug}.json").write_text(json.dumps(rec))
        (tmp_path / "samples" / f"{slug}.jsonl").write_text("{}\n")
    (tmp_path / "replicates" / "old.npz").write_bytes(b"x")
    # the same setting run from another store, verbosely: still the same row
    rerun = record("FewGen 32-shot", "fewgen", 32, config={**cfg, "store_dir": "/b", "verbose": True},
                   stage_keys={"filter": "k3"})
    assert supersede(tmp_path, rerun, "new") == ["old"]
    assert sorted(p.stem for p in (tmp_path / "runs").glob("*.json")) == ["new", "seed2"]
    assert sorted(p.name for p in (tmp_path / "superseded").rglob("old.*")) == ["old.json", "old.jsonl", "old.npz"]
    assert supersede(tmp_path, rerun, "new") == []


def test_rows_of_one_config_merged_from_two_machines_are_told_apart():
    cfg = {"seed": 1, "teacher": {"weights": "f16"}}
    amd = {"cpu": "AMD EPYC", "simd": "avx2", "gpus": [], "packages": {"llama_cpp_python": "0.3.36"}}
    intel = {**amd, "cpu": "Intel Xeon", "simd": "amx"}
    recs = [record("FewGen 32-shot", "fewgen", 32, config=cfg, machine=amd, stage_keys={"filter": "a"}),
            record("FewGen 32-shot", "fewgen", 32, config=cfg, machine=intel, stage_keys={"filter": "b"})]
    notes = [r[-1] for r in comparison_rows(recs)[1]]
    assert sorted(notes) == ["machine.cpu=AMD EPYC, machine.simd=avx2", "machine.cpu=Intel Xeon, machine.simd=amx"]
    recs[1]["machine"] = None      # a record from before machines were recorded
    assert sorted(r[-1] for r in comparison_rows(recs)[1]) == ["machine.cpu=AMD EPYC", "machine.cpu=unrecorded"]
    recs[1]["machine"] = amd       # same machine, other keys: the run fingerprints
    notes = [r[-1] for r in comparison_rows(recs)[1]]
    assert all(n.startswith("run=") for n in notes) and notes[0] != notes[1]
    recs[1]["config"] = {**cfg, "seed": 2}    # a setting differs: that, not the machine
    assert sorted(r[-1] for r in comparison_rows(recs)[1]) == ["seed=1", "seed=2"]


def test_machine_names_this_cpu_and_the_installed_kernel_packages():
    import importlib.metadata
    from synthesizrr.machine import machine
    m = machine()
    assert m["cpu"] and m["simd"] in ("amx", "avx512", "avx2", "neon", "-")
    assert m["packages"]["torch"] == importlib.metadata.version("torch")
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    assert ("avx2" in flags) == (m["simd"] in ("amx", "avx512", "avx2")) or m["simd"] == "neon"
