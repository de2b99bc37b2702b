"""Statistics in the report: the evaluate stage's intervals and replicates, the record's student t-intervals and
warnings, the vs_baseline table, interval cells, footnotes and error bars (real files, real metrics)."""
import json

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from metrics.uncertainty import paired_seed_test, seed_summary
from synthesizrr.cli import CONF_DIR
from synthesizrr.core.config import validate
from synthesizrr.plots import error_bar
from synthesizrr.report import build_report, comparison_rows, main as report_main, summary_lines
from synthesizrr.report_stats import row_stats, vs_baseline

TEXTS = ["Apple shares rose in New York after Tim Cook spoke.", "The Lakers beat Boston in Los Angeles.",
         "Parliament in London voted on the budget.", "Microsoft opened an office in Paris.",
         "Serena Williams won the final in Melbourne.", "The Bank of England held rates.",
         "Google bought a startup in Berlin.", "Manchester United lost to Chelsea on Sunday.",
         "The Senate in Washington passed the bill.", "Amazon hired workers in Seattle.",
         "Roger Federer retired in Switzerland.", "The European Union fined Meta in Brussels."]


def smoke_cfg(tmp_path, *overrides):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return validate(compose("config", overrides=["experiment=smoke", f"store_dir={tmp_path}/store",
                                                     "tracking=none", *overrides]))


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """run_metrics on two rows of 12 texts (Self-BLEU, spaCy NER, MiniLM MAUVE, distinct-n)."""
    from synthesizrr.stages.evaluate import run_metrics

    tmp = tmp_path_factory.mktemp("ev")
    cfg = smoke_cfg(tmp, "metrics.n_resamples=200", "metrics.mauve_n_resamples=5", "metrics.mauve_num_buckets=2",
                    "metrics.spacy_model=en_core_web_sm", "metrics.embedding_similarity=false")
    labels = [("business", "sport", "politics")[i % 3] for i in range(12)]
    write_jsonl(tmp / "prep" / "test.jsonl", [{"text": t.upper(), "label": lab} for t, lab in zip(TEXTS, labels)])
    out = {}
    for name, texts in (("a", TEXTS), ("b", TEXTS[::-1])):
        write_jsonl(tmp / name / "final.jsonl", [{"text": t, "label": lab} for t, lab in zip(texts, labels)])
        (tmp / name / "out").mkdir()
        out[name] = (run_metrics(cfg, tmp / "prep", tmp / name, tmp / name / "out", tmp / "features"),
                     tmp / name / "out")
    return out


def test_evaluate_intervals_are_around_the_reported_values_with_replicates_kept(evaluated):
    res, folder = evaluated["a"]
    iv = res["intervals"]
    keys = {"self_bleu_5", "entity_entropy_log2", "entity_entropy_per_type_mean_log2", "mauve", "mauve_scaling_5",
            "distinct_2"}
    assert keys <= set(iv["metrics"]) and iv["confidence"] == 0.95
    for key in keys:
        assert iv["metrics"][key]["estimate"] == pytest.approx(res[key])   # from the same per-text work
        reps = np.load(folder / "replicates" / f"{key}.npy")
        assert reps.dtype == np.float32 and len(reps) == (5 if key.startswith("mauve") else 200)
    assert iv["methods"]["distinct_n"]["method"].startswith("half-sampling")
    assert iv["methods"]["self_bleu"]["n_resamples"] == 200 and iv["seed"][0] == 42


def test_each_row_draws_its_own_replicates(evaluated):
    (a, _), (b, _) = evaluated["a"], evaluated["b"]
    assert a["intervals"]["seed"] != b["intervals"]["seed"]   # same run seed, other data
    assert a["self_bleu_5"] == pytest.approx(b["self_bleu_5"])   # same texts, other order


def test_no_intervals_when_switched_off(tmp_path):
    from synthesizrr.stages.evaluate import run_metrics

    cfg = smoke_cfg(tmp_path, "metrics.intervals=false", "metrics.mauve=false", "metrics.entity_entropy=false",
                    "metrics.embedding_similarity=false")
    write_jsonl(tmp_path / "f" / "final.jsonl", [{"text": t, "label": "x"} for t in TEXTS])
    res = run_metrics(cfg, tmp_path, tmp_path / "f", tmp_path, tmp_path / "features")
    assert "intervals" not in res and not (tmp_path / "replicates").exists() and "self_bleu_5" in res


def per_seed(values):
    return [{"seed": s, "accuracy": v, "macro_f1": v - 0.1} for s, v in values.items()]


def test_record_stats_give_a_t_interval_over_seeds_and_size_warnings(tmp_path):
    cfg = smoke_cfg(tmp_path, "student.seeds=[0,1,2]")
    ev = {"num_texts": 20, "mauve": 0.99, "self_bleu_5": 0.1, "intervals": {"metrics": {
        "self_bleu_5": {"estimate": 0.1, "ci_low": 0.05, "ci_high": 0.16}}, "methods": {}, "seed": [42, 7]}}
    stats = row_stats(cfg, {"num_final": 20}, ev, per_seed({0: 0.5, 1: 0.6, 2: 0.58}), num_test=60)
    want = seed_summary([0.5, 0.6, 0.58])
    assert stats["intervals"]["accuracy"]["ci_low"] == pytest.approx(want["ci_low"])
    assert stats["accuracy_by_seed"] == {"0": 0.5, "1": 0.6, "2": 0.58}
    warnings = " ".join(stats["size_warnings"])
    assert "MAUVE with 4 buckets over 20 texts" in warnings and "60 test examples" in warnings
    assert "Self-BLEU over 20 texts" in warnings and "student seed" not in warnings
    assert "Self-BLEU-5" in stats["wide_intervals"] and "Accuracy" in stats["wide_intervals"]
    one = row_stats(smoke_cfg(tmp_path, "student.seeds=[0]"), {"num_final": 600}, {}, per_seed({0: 0.5}), 5000)
    assert one["intervals"]["accuracy"]["ci_low"] is None and one["size_warnings"][0].startswith("1 student seed")


def rec(method, name, acc, teacher="smol", real=False, **kw):
    order = {"gold": 0, "fewgen": 20, "synthesizrr": 50}[name]
    return {"name": "t", "dataset": "ag", "teacher": teacher, "method": method, "method_name": name,
            "method_family": method.split(" ")[0], "method_order": order, "real_data": real, "num_shots": 3,
            "retriever": "r", "corpus": "c", "student": "s", "filter": "none", "fidelity": "improved", "seed": 1,
            "num_final": 20, "self_bleu_5": 0.3, "accuracy": sum(acc.values()) / len(acc),
            "accuracy_by_seed": {str(k): v for k, v in acc.items()}, "num_test": 60, "interval_confidence": 0.95,
            **kw}


def order(r):
    return (r["dataset"], r["method_order"], r["method"], r["teacher"])


def test_vs_baseline_pairs_seeds_differences_replicates_and_flags_zero():
    rng = np.random.default_rng(0)
    reps = {"Gold": {"self_bleu_5": rng.normal(0.1, 0.01, 1000)}, "FewGen 32-shot": {"self_bleu_5": rng.normal(0.3, 0.01, 1000)},
            "SynthesizRR 3-shot": {"self_bleu_5": rng.normal(0.3, 0.05, 1000)}}
    recs = [rec("Gold", "gold", {0: 0.9, 1: 0.91, 2: 0.92}, teacher="-", real=True, self_bleu_5=0.1),
            rec("FewGen 32-shot", "fewgen", {0: 0.5, 1: 0.6, 2: 0.55}),
            rec("FewGen 32-shot", "fewgen", {0: 0.4, 1: 0.45, 2: 0.5}, teacher="big"),
            rec("SynthesizRR 3-shot", "synthesizrr", {0: 0.52, 1: 0.58, 2: 0.6, 3: 0.1})]
    vs = vs_baseline(recs, "FewGen 32-shot", order, lambda r: reps.get(r["method"], {}))
    assert [(c["method"], c["baseline_teacher"]) for c in vs["comparisons"]] == [
        ("Gold", "big"), ("Gold", "smol"), ("SynthesizRR 3-shot", "smol")]   # real data: against every teacher
    syn = vs["comparisons"][2]["differences"]
    want = paired_seed_test({"0": 0.52, "1": 0.58, "2": 0.6, "3": 0.1}, {"0": 0.5, "1": 0.6, "2": 0.55})
    assert syn["accuracy"]["p_value"] == pytest.approx(want["p_value"]) and syn["accuracy"]["n_pairs"] == 3
    assert syn["self_bleu_5"]["includes_zero"] and not vs["comparisons"][1]["differences"]["self_bleu_5"]["includes_zero"]
    row = vs["rows"][2]
    assert row[vs["header"].index("Δ Self-BLEU-5 (pts) ↓")].endswith("†")
    assert row[vs["header"].index("p (Accuracy)")] == f"{want['p_value']:.3f}"
    assert "unmatched seeds left out: row ['3']" in row[-1]
    gold = vs["rows"][1][vs["header"].index("Δ Self-BLEU-5 (pts) ↓")]
    assert gold.startswith("-20.0 [") and "†" not in gold


def test_a_missing_baseline_is_one_line_in_the_table_files(tmp_path):
    (tmp_path / "runs").mkdir()
    for i, r in enumerate([rec("Gold", "gold", {0: 0.9}, teacher="-", real=True),
                           rec("SynthesizRR 3-shot", "synthesizrr", {0: 0.5})]):
        (tmp_path / "runs" / f"{i}.json").write_text(json.dumps(r))
    build_report([tmp_path], tmp_path)
    for ext in ("md", "csv", "tex"):
        lines = (tmp_path / f"vs_baseline.{ext}").read_text().splitlines()
        assert len(lines) == 1 and "No baseline row 'FewGen 32-shot'" in lines[0]
    report_main([str(tmp_path), "--baseline", "Gold"])   # another baseline, from the command line
    assert "| ag | smol | SynthesizRR 3-shot | Gold (-) |" in (tmp_path / "vs_baseline.md").read_text()


def test_table_cells_carry_intervals_and_warnings_become_footnotes(tmp_path):
    iv = {"accuracy": {"estimate": 0.565, "ci_low": 0.512, "ci_high": 0.618},
          "self_bleu_5": {"estimate": 0.3, "ci_low": 0.25, "ci_high": 0.36}}
    warn = ["20 texts (< 500): intervals over texts are too narrow"]
    recs = [rec("FewGen 32-shot", "fewgen", {0: 0.565}, accuracy_std=0.031, intervals=iv, size_warnings=warn,
                wide_intervals=["Self-BLEU-5"], interval_methods={"self_bleu": {
                    "method": "percentile bootstrap over texts (resampled with replacement)", "n_resamples": 1000}}),
            rec("Gold", "gold", {0: 0.9}, teacher="-", real=True, size_warnings=warn)]
    header, rows = comparison_rows(recs)
    fewgen = rows[1]
    assert "56.5 ± 3.1 [51.2, 61.8]" in fewgen and "30.0 [25.0, 36.0]" in fewgen
    assert warn[0] in fewgen[-1] and "intervals wider than ±10%: Self-BLEU-5" in fewgen[-1]
    (tmp_path / "runs").mkdir()
    for i, r in enumerate(recs):
        (tmp_path / "runs" / f"{i}.json").write_text(json.dumps(r))
    build_report([tmp_path], tmp_path)
    md = (tmp_path / "table.md").read_text()
    assert md.count("⚠ [1]") == 2 and f"[1] {warn[0]}" in md and "self_bleu: percentile bootstrap x1000" in md
    assert warn[0] in (tmp_path / "table.csv").read_text()   # the CSV keeps the full text in Notes
    assert "($<$ 500)" in (tmp_path / "table.tex").read_text()
    assert "56.5 ± 3.1 [51.2, 61.8]" in (tmp_path / "accuracy_by_dataset.md").read_text()
    lines = summary_lines(tmp_path)
    assert lines[0].startswith(f"Results: {tmp_path}") and any("56.5 ± 3.1 [51.2, 61.8]" in l for l in lines)
    assert any("FewGen 32-shot (smol)" in l for l in lines)   # the vs_baseline rows follow the table


def test_an_estimate_outside_its_own_interval_is_flagged(tmp_path):
    """Resampling repeats texts, which lowers MAUVE: a saturated 100.0 can sit above its whole interval."""
    inside = {"mauve": {"estimate": 0.97, "ci_low": 0.70, "ci_high": 0.995}}
    outside = {"mauve": {"estimate": 0.9999, "ci_low": 0.89, "ci_high": 0.999},
               "self_bleu_5": {"estimate": 0.3, "ci_low": 0.25, "ci_high": 0.36}}
    recs = [rec("FewGen 32-shot", "fewgen", {0: 0.5}, intervals=inside),
            rec("SynthesizRR 3-shot", "synthesizrr", {0: 0.6}, intervals=outside)]
    _, rows = comparison_rows(recs)
    notes = {r[2]: r[-1] for r in rows}
    assert "outside its interval" not in notes["FewGen 32-shot"]
    assert "estimate outside its interval: MAUVE (" in notes["SynthesizRR 3-shot"]      # the full text (CSV)
    (tmp_path / "runs").mkdir()
    for i, r in enumerate(recs):
        (tmp_path / "runs" / f"{i}.json").write_text(json.dumps(r))
    build_report([tmp_path], tmp_path)
    md = (tmp_path / "table.md").read_text()
    assert "estimate outside its interval: MAUVE [1]" in md and "[1] the estimate lies outside" in md


def test_error_bars_are_the_intervals_else_the_std():
    r = {"accuracy": 0.5, "accuracy_std": 0.1, "intervals": {"accuracy": {"ci_low": 0.4, "ci_high": 0.65}}}
    assert error_bar(r, "accuracy", 100) == pytest.approx((10, 15))
    assert error_bar({"accuracy": 0.5, "accuracy_std": 0.1}, "accuracy", 100) == pytest.approx((10, 10))
    above = {"mauve": 0.99, "intervals": {"mauve": {"ci_low": 0.8, "ci_high": 0.97}}}   # percentile ends below
    assert error_bar(above, "mauve", 1) == pytest.approx((0.19, 0.0))
