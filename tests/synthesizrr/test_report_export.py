"""Reports from run records (real files) and the dataset export with its card."""
import json
import subprocess
import sys

import pytest

from synthesizrr.export import export
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
    assert card.startswith("---\ntask_categories:") and "| a | 3 |" in card and "mauve | 0.9000" in card
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
