"""Student loading: dropout really reaches the model; the tiny DeBERTa trains and round-trips save/load."""
import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DistilBertConfig, \
    DistilBertForSequenceClassification

from distill.fit import fit
from distill.dropout import apply_dropout
from distill.models import load_student
from distill.train import predict
from synthesizrr.core.config import StudentConfig


def _dropouts(model) -> set[float]:
    return {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}


def test_dropout_reaches_minilm_modules_and_changes_outputs(labels):
    default, _ = load_student("offline:minilm", labels)
    assert _dropouts(default) == {0.1}
    model, tok = load_student("offline:minilm", labels, dropout=0.3)
    assert (model.config.hidden_dropout_prob, model.config.attention_probs_dropout_prob,
            model.config.classifier_dropout) == (0.3, 0.3, 0.3)
    assert _dropouts(model) == {0.3}
    batch = tok(["Shares rose on Monday."], return_tensors="pt")
    off, _ = load_student("offline:minilm", labels, dropout=0.0)
    off.train()
    torch.manual_seed(0)
    assert torch.equal(off(**batch).logits, off(**batch).logits)  # no dropout: train mode is deterministic
    model.train()
    assert not torch.equal(model(**batch).logits, model(**batch).logits)


def test_dropout_fields_of_deberta_and_distilbert(labels):
    tiny, _ = load_student("offline:deberta_tiny", labels, dropout=0.25)
    assert tiny.config.cls_dropout == tiny.config.pooler_dropout == tiny.config.hidden_dropout_prob == 0.25
    assert _dropouts(tiny) == {0.25}
    config = DistilBertConfig(n_layers=1, dim=32, hidden_dim=64, n_heads=2, num_labels=2)
    assert apply_dropout(config, 0.15) == ["dropout", "attention_dropout", "seq_classif_dropout"]
    assert _dropouts(DistilBertForSequenceClassification(config)) == {0.15}
    assert apply_dropout(config, None) == []


def test_unknown_offline_student_is_named(labels):
    with pytest.raises(ValueError, match="unknown offline student 'offline:bert'.*offline:minilm"):
        load_student("offline:bert", labels)


def test_deberta_tiny_trains_and_round_trips(ledes, labels, tmp_path):
    cfg = StudentConfig(name="tiny", model="offline:deberta_tiny", lr=3e-4, batch_size=16, epochs=2,
                        max_length=48, seeds=[0], device="cpu")
    model, tok, history, resumed = fit(ledes[:160], labels, cfg, seed=0, progress=False)
    assert type(model).__name__ == "DebertaV2ForSequenceClassification" and resumed == 0
    assert model.config.pos_att_type == ["p2c", "c2p"] and model.config.relative_attention
    assert len(history) == 2 and history[1]["train_loss"] < history[0]["train_loss"]
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    again = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    texts = [ex["text"] for ex in ledes[160:200]]
    batch = AutoTokenizer.from_pretrained(tmp_path)(texts[:4], padding=True, return_tensors="pt")
    with torch.no_grad():
        np.testing.assert_allclose(model(**batch).logits.numpy(), again(**batch).logits.numpy(), atol=1e-5)
    assert predict(tmp_path, texts) == predict(model, texts, tok)
    assert set(predict(tmp_path, texts)) <= set(labels)


def test_device_and_bf16_resolution():
    import distill.fit as fit_mod

    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only behaviour")
    assert fit_mod.resolve_device("auto", "auto") == (torch.device("cpu"), False)
    assert fit_mod.resolve_device("auto", True) == (torch.device("cpu"), True)  # CPU autocast when forced
    assert fit_mod.resolve_device("cpu", "False") == (torch.device("cpu"), False)
    with pytest.raises(ValueError, match="student.device=cuda but no CUDA device is visible"):
        fit_mod.resolve_device("cuda", "auto")


def test_bf16_autocast_path_trains(ledes, labels):
    cfg = StudentConfig(name="tiny", model="offline:deberta_tiny", lr=3e-4, batch_size=16, epochs=1, max_length=32,
                        seeds=[0], device="cpu", bf16="true")
    model, _, history, _ = fit(ledes[:32], labels, cfg, seed=0, progress=False)
    assert np.isfinite(history[0]["train_loss"]) and next(model.parameters()).dtype == torch.float32
