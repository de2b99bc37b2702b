"""Nothing lost, nothing misleading: bad files get one line naming the file (and line), exit 2; a label without
examples is an error (or a recorded allowance) before any training; rows say how many shots they really got."""
import json
import os
import subprocess
import sys

import pytest

from synthesizrr.compose import load_config
from synthesizrr.core.errors import DataError
from synthesizrr.pipeline import Pipeline


def write(path, text, mode="w"):
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if mode == "wb" else path.write_text)(text)
    return path


def local_dataset(tmp_path, train: bytes) -> list[str]:
    write(tmp_path / "data" / "d" / "train.jsonl", train, "wb")
    write(tmp_path / "data" / "d" / "test.jsonl", b'{"text": "a test", "label": "a"}\n{"text": "b test", "label": "b"}\n',
          "wb")
    write(tmp_path / "conf" / "dataset" / "d.yaml", "name: d\nsource: local\npath: d\n"
          "data_files: {train: train.jsonl, test: test.jsonl}\nlabels: {a: A, b: B}\nseed_size_per_label: 1\n"
          "prompts: {synthesizrr_instruction: 'Rewrite: {label_description}.', fewgen_instruction: 'Write: "
          "{label_description}.', answer_prefix: 'Text:'}\n")
    return ["dataset=d", f"data_root={tmp_path / 'data'}"]


def cli(tmp_path, *args):
    conf = ["--config-dir", str(tmp_path / "conf")] if (tmp_path / "conf").is_dir() else []
    return subprocess.run([sys.executable, "-m", "synthesizrr.cli", *conf, "experiment=smoke", "method=gold",
                           "hydra.mode=RUN", "tracking=none", f"store_dir={tmp_path}/store",
                           f"results_dir={tmp_path}/results", f"hydra.run.dir={tmp_path}/out", *args],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "WANDB_MODE": "disabled"})


def one_line(proc, after_work: bool = False) -> str:
    """The error line; with after_work the run's progress lines may come before it."""
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr and (after_work or len(lines) == 1), proc.stderr[-2000:]
    assert lines[-1].startswith("synthesizrr: error: ")
    return lines[-1]


@pytest.mark.parametrize("train,pattern", [
    (b"", r"train\.jsonl is empty"),
    (b'{"text": "fine", "label": "a"}\n{"text": "caf\xe9 au lait", "label": "b"}\n',
     r"train\.jsonl, line 2: not UTF-8 text \(byte 0xe9 at column 14\)"),
    (b'{"text": "fine", "label": "a"}\n{"text": "cut off\n', r"train\.jsonl, line 2: not a JSON object"),
])
def test_bad_dataset_files_get_one_line_naming_file_and_line(tmp_path, train, pattern):
    import re
    assert re.search(pattern, one_line(cli(tmp_path, *local_dataset(tmp_path, train))))


def test_a_missing_or_empty_corpus_gets_one_line(tmp_path):
    base = ["method=synthesizrr", "corpus.source=local", f"corpus_root={tmp_path}", "corpus.text_column=text"]
    assert "no file matches" in one_line(cli(tmp_path, *base, "corpus.path=nope.jsonl"))
    write(tmp_path / "empty.jsonl", "")
    assert "has no documents" in one_line(cli(tmp_path, *base, "corpus.path=empty.jsonl"))


def test_a_corpus_whose_documents_all_fall_outside_the_token_range_says_so(tmp_path):
    docs = "".join(json.dumps({"text": f"tiny doc {i}"}) + "\n" for i in range(30))
    write(tmp_path / "short.jsonl", docs)
    line = one_line(cli(tmp_path, "method=synthesizrr", "corpus.source=local", f"corpus_root={tmp_path}",
                        "corpus.path=short.jsonl", "corpus.text_column=text", "corpus.max_docs=null"), after_work=True)
    assert "outside the corpus token range (corpus.min_tokens=20" in line


def _filter_with(tmp_path, rows, *overrides):
    cfg = load_config(["experiment=smoke", "method=fewgen", f"store_dir={tmp_path}/store", *overrides])
    run = Pipeline(cfg)
    run.run_stage("prepare")
    synth = write(tmp_path / "synth" / "synthetic.jsonl", "".join(json.dumps(r) + "\n" for r in rows)).parent
    run.paths["synthesize"], run.content["synthesize"] = synth, "fake"
    return run.run_stage("filter")


def test_a_label_without_examples_is_an_error_before_any_training(tmp_path):
    """It used to collapse the distribution-matched sample (8 wanted -> 1 kept) and crash in evaluate."""
    rows = [{"text": f"text {i}", "label": lab} for lab in ("business", "politics", "sport", "tech") for i in range(4)]
    with pytest.raises(DataError, match="label\\(s\\) entertainment have no example to train on"):
        _filter_with(tmp_path, rows, "filter.allow_shortfall=false")
    out = _filter_with(tmp_path, rows, "filter.allow_shortfall=true", "filter.num_samples=8")
    figures = json.loads((out / "figures.json").read_text())
    assert figures["missing_labels"] == ["entertainment"]
    assert figures["num_final"] == 8 and "entertainment" not in figures["per_label"]   # not collapsed to 1


def test_rows_record_the_shots_they_really_got():
    from synthesizrr.methods.builders import PromptRow
    from synthesizrr.methods.teacher import shots_used
    from synthesizrr.report import notes

    rows = [PromptRow("p", "a", "x", n) for n in (0, 1, 0, 1)]
    shots = shots_used(rows, 3)
    assert shots == {"configured": 3, "mean": 0.5, "min": 0}
    assert "shots used: mean 0.5, min 0 of 3" in notes({"shots_used": shots})
    assert not notes({"shots_used": shots_used([PromptRow("p", "a", "x", 3)], 3)})
