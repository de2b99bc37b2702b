"""Label-preservation oracle: learning rate chosen on validation data; scores real texts well and
mislabelled ones badly."""
import pytest

from distill.oracle import label_preservation, split_validation, train_oracle
from synthesizrr.core.store import read_json


def test_oracle_is_chosen_on_validation_and_scores_label_preservation(ledes, labels, minilm, tmp_path):
    train, validation = split_validation(ledes[:240], fraction=0.25, seed=0)
    assert len(validation) == pytest.approx(60, abs=3) and not {id(x) for x in train} & {id(x) for x in validation}
    cfg = minilm(epochs=1, max_length=32)
    path = train_oracle(train, validation, labels, cfg, tmp_path, lrs=(1e-6, 2e-4), progress=False)
    report = read_json(tmp_path / "oracle.json")
    trials = {t["lr"]: t["val_accuracy"] for t in report["trials"]}
    assert report["best_lr"] == max(trials, key=trials.get) and report["num_validation"] == len(validation)
    assert trials[2e-4] > trials[1e-6]  # lr 1e-6 barely moves the new head in one epoch
    held_out = ledes[1000:1100]
    real = label_preservation(path, held_out, labels)
    assert real["accuracy"] > 0.35 and real["num_examples"] == 100  # chance: 0.2
    shifted = [{"text": ex["text"], "label": labels[(labels.index(ex["label"]) + 1) % 5]} for ex in held_out]
    assert label_preservation(path, shifted, labels)["accuracy"] < real["accuracy"] - 0.2
    with pytest.raises(ValueError, match="oracle at .* predicts labels"):
        label_preservation(path, [{"text": "a", "label": "yes"}], ["yes", "no"])
    assert train_oracle(train, validation, labels, cfg, tmp_path, lrs=(1e-6, 2e-4), progress=False) == path
