"""Load a sequence classifier and its tokenizer by hub id, local path or ``offline:<name>``.

``offline:minilm`` is the packaged MiniLM (BERT) with a new classification head; ``offline:deberta_tiny`` is a
small randomly initialised DeBERTa-v2 with a locally trained tokenizer (see ``distill.deberta_tiny``).
"""
from __future__ import annotations

from typing import Sequence

from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from distill.dropout import apply_dropout
from synthesizrr.core.assets import OFFLINE_PREFIX, resolve_model

STUDENT_OFFLINE = ("offline:minilm", "offline:deberta_tiny")

def load_student(name: str, labels: Sequence[str], dropout: float | None = None):
    """Return (model, tokenizer) for a classifier over `labels`; the head is new unless the checkpoint has one
    with the same labels. Seed the RNGs before calling: the head's initialisation is random."""
    labels = list(labels)
    id2label = dict(enumerate(labels))
    label2id = {lab: i for i, lab in enumerate(labels)}
    if name == "offline:deberta_tiny":
        from distill.deberta_tiny import deberta_tiny
        return deberta_tiny(labels, dropout=dropout)
    if name.startswith(OFFLINE_PREFIX) and name not in STUDENT_OFFLINE:
        raise ValueError(f"unknown offline student '{name}': allowed {', '.join(STUDENT_OFFLINE)}, a hub id or a path")
    path = resolve_model(name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    config = AutoConfig.from_pretrained(path, num_labels=len(labels), id2label=id2label, label2id=label2id)
    apply_dropout(config, dropout)
    model = AutoModelForSequenceClassification.from_pretrained(path, config=config)
    ensure_pad_token(model, tokenizer)
    return model, tokenizer


def ensure_pad_token(model, tokenizer) -> None:
    """Decoder-style tokenizers lack a pad token: reuse end-of-sequence, as is usual for classification."""
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"tokenizer of {model.name_or_path} has neither a pad nor an eos token: "
                             "cannot pad batches")
        tokenizer.pad_token = tokenizer.eos_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id


def load_classifier(model_dir: str):
    """Reload a classifier saved with ``save_pretrained`` (model and tokenizer in one directory)."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    ensure_pad_token(model, tokenizer)
    return model, tokenizer


def freeze_encoder(model) -> None:
    """Train only the classification head: every parameter of the base model (embeddings, encoder and, for BERT, its
    pooler) stops requiring gradients; what sits on top of it (classifier, DeBERTa's and DistilBERT's pre-classifier
    layers) stays trainable."""
    for p in model.base_model.parameters():
        p.requires_grad_(False)
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"student.freeze_encoder=true leaves nothing to train in {type(model).__name__}")
