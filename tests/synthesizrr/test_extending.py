"""docs/extending.md, run verbatim: its files written into a folder outside the repository, its commands run
there with the installed package. A new dataset, corpus, method and teacher backend go end to end."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "extending.md"
BLOCK = re.compile(r"```(\w+)( file=(\S+))?\n(.*?)```", re.S)
pytestmark = pytest.mark.slow


def doc_blocks():
    files, commands = {}, []
    for lang, _, path, body in BLOCK.findall(DOC.read_text()):
        if path:
            files[path] = body
        elif lang == "bash":
            commands += [line for line in body.splitlines() if line.strip()]
    return files, commands


def test_the_page_has_every_piece():
    files, commands = doc_blocks()
    assert {"conf/dataset/reviews.yaml", "conf/corpus/products.yaml", "conf/method/seeds_only.yaml",
            "conf/teacher/first_sentence.yaml", "conf/experiment/reviews_demo.yaml", "my_methods.py",
            "my_backend.py"} <= set(files)
    assert any(c.startswith("synthesizrr --config-dir conf") for c in commands)


def test_extending_page_runs_end_to_end(tmp_path):
    files, commands = doc_blocks()
    for path, body in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(body)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1"}
    env.pop("SYNTHESIZRR_STORE", None)
    env.pop("SYNTHESIZRR_RESULTS", None)
    outputs = []
    for command in commands:
        proc = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=900)
        assert proc.returncode == 0, f"{command}\n{proc.stderr[-3000:]}"
        outputs.append(proc.stdout)
    table = (tmp_path / "results" / "reviews_demo" / "table.md").read_text()
    for row in ("Gold", "Seeds only", "SynthesizRR RetrICL 3-shot"):
        assert "| reviews | " in table and row in table, table
    assert "Seeds only" in outputs[-1]


def test_a_typo_in_a_user_option_lists_the_users_options_too(tmp_path):
    files, _ = doc_blocks()
    for path, body in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(body)
    proc = subprocess.run([sys.executable, "-m", "synthesizrr.cli", "--config-dir", "conf", "dataset=reveiws"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "WANDB_MODE": "disabled"})
    assert proc.returncode == 2
    assert "dataset=reveiws is not a known dataset" in proc.stderr and "reviews" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_an_option_that_shadows_a_packaged_one_is_refused(tmp_path):
    (tmp_path / "conf" / "dataset").mkdir(parents=True)
    (tmp_path / "conf" / "dataset" / "ag_news.yaml").write_text("name: ag_news\nlabels: {a: A, b: B}\n")
    proc = subprocess.run([sys.executable, "-m", "synthesizrr.cli", "--config-dir", "conf", "dataset=ag_news"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "WANDB_MODE": "disabled"})
    assert proc.returncode == 2 and "dataset=ag_news is defined in several config folders" in proc.stderr


def test_the_config_path_variable_adds_a_folder(tmp_path):
    files, _ = doc_blocks()
    for path, body in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(body)
    proc = subprocess.run([sys.executable, "-m", "synthesizrr.cli", "--cfg", "job", "dataset=reviews",
                           "method=seeds_only"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "WANDB_MODE": "disabled",
                               "SYNTHESIZRR_CONFIG_PATH": str(tmp_path / "conf")})
    assert proc.returncode == 0, proc.stderr
    assert "text_column: review" in proc.stdout and "repeat: 2" in proc.stdout
