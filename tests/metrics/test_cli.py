"""synthesizrr-metrics: JSON output keys, the three file formats and one-line errors with exit code 2."""
import json
import subprocess
import sys

import pandas as pd
import pytest

from metrics.cli import main


@pytest.fixture(scope="module")
def files(ag_news_test, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    rows = [r for r in ag_news_test if r["label"] in ("Sports", "World")]
    gens, refs = pd.DataFrame(rows[:30]), pd.DataFrame(rows[30:70])
    gens[["text", "label"]].to_json(root / "gens.jsonl", orient="records", lines=True)
    gens[["text", "label"]].to_csv(root / "gens.csv", index=False)
    gens[["text", "label"]].to_parquet(root / "gens.parquet")
    refs[["text", "label"]].to_json(root / "refs.jsonl", orient="records", lines=True)
    pd.DataFrame({"text": ["just one text"]}).to_json(root / "one.jsonl", orient="records", lines=True)
    (root / "gens.txt").write_text("plain text")
    return root


def run_json(capsys, argv):
    assert main(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_has_every_metric(files, feature_cache, capsys):
    out = run_json(capsys, ["--input", str(files / "gens.jsonl"), "--reference", str(files / "refs.jsonl"),
                            "--max-length", "64", "--cache-dir", str(feature_cache)])
    expected = {f"self_bleu_{n}" for n in range(1, 6)} | {f"distinct_{n}" for n in range(1, 5)} | {
        "entity_entropy_log2", "entity_entropy_per_type_mean_log2", "entity_entropy_per_type_log2", "num_entities",
        "num_unique_entities", "spacy_model", "mauve", "mauve_scaling_5", "mauve_reference_reuse_max",
        "mauve_reference_reuse_mean", "length_words_mean", "length_chars_max", "num_texts", "num_references"}
    assert expected <= set(out)
    assert out["num_texts"] == 30 and out["num_references"] == 30  # one label-matched reference per text
    assert 0 < out["mauve"] <= 1 and out["num_entities"] > 0


def test_default_metrics_without_reference_and_the_three_formats(files, capsys):
    outs = [run_json(capsys, ["--input", str(files / f"gens.{ext}"), "--metrics", "self_bleu,length",
                              "--tokenizer", "whitespace"]) for ext in ("jsonl", "csv", "parquet")]
    assert outs[0] == outs[1] == outs[2] and outs[0]["self_bleu_tokenizer"] == "whitespace"
    default = run_json(capsys, ["--input", str(files / "gens.jsonl"), "--sample", "10", "--seed", "3"])
    assert "mauve" not in default and "entity_entropy_log2" in default and "distinct_4" in default
    assert default["self_bleu_num_texts"] == 10 and default["num_texts"] == 30


@pytest.mark.parametrize("argv, message", [
    (["--input", "missing.jsonl"], "input file not found: missing.jsonl"),
    (["--input", "{d}/gens.jsonl", "--text-column", "body"], "column 'body' not in"),
    (["--input", "{d}/gens.jsonl", "--metrics", "self_bleu,bleu"], "unknown metric(s) ['bleu']: allowed"),
    (["--input", "{d}/gens.jsonl", "--metrics", "mauve"], "metric 'mauve' needs --reference"),
    (["--input", "{d}/gens.jsonl", "--tokenizer", "bpe"], "invalid choice: 'bpe'"),
    (["--input", "{d}/gens.txt"], "unsupported file type '.txt'"),
    (["--input", "{d}/one.jsonl", "--metrics", "self_bleu"], "at least 2 texts"),
    (["--input", "{d}/gens.jsonl", "--reference", "{d}/refs.jsonl", "--metrics", "mauve", "--featurizer",
      "offline:nothing"], "unknown offline model 'offline:nothing'"),
])
def test_bad_input_is_one_line_and_exit_2(files, capsys, argv, message):
    assert main([a.format(d=files) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("synthesizrr-metrics: error: ") and message in err


def test_console_script_exit_code_and_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "metrics.cli", "--input", str(tmp_path / "none.csv")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"synthesizrr-metrics: error: input file not found: {tmp_path / 'none.csv'}"
