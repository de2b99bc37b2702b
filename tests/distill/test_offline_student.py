"""The offline MiniLM recipe (conf/student/minilm_offline.yaml) learns from 100 real examples on a CPU: a gold-style
run on AG News from the shared data folder, three seeds through train_students."""
import json
import random
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from distill.train import train_students
from synthesizrr.core.config import StudentConfig

CONF = Path(__file__).resolve().parents[2] / "conf"


def _balanced(path: Path, n: int, seed: int) -> list[dict]:
    """n examples, the same number per label, drawn with `seed`, in a shuffled order."""
    rows = [json.loads(line) for line in path.open()]
    rng, out = random.Random(seed), []
    labels = sorted({r["label"] for r in rows})
    for lab in labels:
        out += rng.sample([r for r in rows if r["label"] == lab], n // len(labels))
    rng.shuffle(out)
    return [{"text": r["text"], "label": r["label"]} for r in out]


@pytest.mark.slow
def test_minilm_offline_learns_from_100_gold_examples(shared_dir, tmp_path):
    ag = shared_dir / "data" / "ag_news"
    if not (ag / "train.jsonl").exists():
        pytest.skip(f"needs {ag}/train.jsonl and test.jsonl (AG News in the shared data folder)")
    train, test = _balanced(ag / "train.jsonl", 100, 0), _balanced(ag / "test.jsonl", 400, 1)
    labels = sorted({ex["label"] for ex in train})
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        node = compose(config_name="student/minilm_offline")["student"]
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(StudentConfig), node))
    cfg.seeds, cfg.device, cfg.eval_every_epoch = [0, 1, 2], "cpu", False
    result = train_students(train, test, labels, cfg, tmp_path, progress=False)
    accs = [r["accuracy"] for r in result["per_seed"]]
    # 4 balanced classes: chance and majority are 25%. Measured with this recipe: 0.843, 0.833, 0.830; the previous
    # recipe (batch 32, 3 epochs, lr 5e-5) gave 0.472, 0.325, 0.415. 60% for every seed is far above chance and
    # above any seed of the old recipe, with room for thread-count and CPU rounding differences.
    assert min(accs) >= 0.60, f"per-seed accuracy {accs}"
