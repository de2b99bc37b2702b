"""Setting a model's dropout from student.dropout, for every model family the students use."""
from __future__ import annotations

from transformers import PretrainedConfig

# Dropout fields by family: BERT/RoBERTa/ELECTRA, DeBERTa (pooler_dropout; cls_dropout is read with getattr),
# DistilBERT. Only the fields a config already has are set (plus cls_dropout for DeBERTa).
DROPOUT_FIELDS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout", "pooler_dropout",
                  "dropout", "attention_dropout", "seq_classif_dropout")
DEBERTA_TYPES = ("deberta", "deberta-v2")


def apply_dropout(config: PretrainedConfig, p: float | None) -> list[str]:
    """Set every dropout probability `config` knows to `p` (None keeps the model's own); return the fields set."""
    if p is None:
        return []
    fields = [f for f in DROPOUT_FIELDS if hasattr(config, f)]
    if config.model_type in DEBERTA_TYPES:
        fields.append("cls_dropout")
    if not fields:
        raise ValueError(f"student.dropout={p} cannot be applied: model type '{config.model_type}' has none of "
                         f"the dropout fields {', '.join(DROPOUT_FIELDS)}; set student.dropout=null")
    for f in fields:
        setattr(config, f, float(p))
    return fields
