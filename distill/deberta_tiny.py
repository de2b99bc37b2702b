"""``offline:deberta_tiny``: a small DeBERTa-v2 (relative attention, p2c+c2p) with a WordPiece tokenizer trained
here on the BBC articles outside the BBC test split. No hub is needed; weights start random (seeded by the caller).
The tokenizer is trained once and cached in a directory.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from filelock import FileLock
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import DebertaV2Config, DebertaV2ForSequenceClassification, PreTrainedTokenizerFast

from distill.dropout import apply_dropout

VOCAB_SIZE = 8000
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ARCH = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
            max_position_embeddings=512, relative_attention=True, pos_att_type=["p2c", "c2p"],
            position_buckets=256, max_relative_positions=-1, position_biased_input=False, type_vocab_size=0)


def default_cache_dir() -> Path:
    root = os.environ.get("SYNTHESIZRR_CACHE_DIR") or Path.home() / ".cache" / "synthesizrr"
    return Path(root) / "deberta_tiny"


def _train_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIALS))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=512)


def tokenizer_dir(cache_dir: str | Path | None = None) -> Path:
    """Directory of the cached tokenizer, training it first if absent (once; a file lock guards concurrent runs)."""
    out = Path(cache_dir) if cache_dir else default_cache_dir()
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):
        if not (out / "tokenizer.json").exists():
            from synthesizrr.core.assets import bbc_split
            texts = [f"{r['title']}. {r['body']}" for r in bbc_split()["pool"]]
            tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".deberta_tiny."))
            _train_tokenizer(texts).save_pretrained(tmp)
            shutil.rmtree(out, ignore_errors=True)
            os.replace(tmp, out)
    return out


def deberta_tiny(labels: Sequence[str], dropout: float | None = None, cache_dir: str | Path | None = None):
    """Return (model, tokenizer): DebertaV2ForSequenceClassification from config, about 3.5M parameters."""
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tokenizer_dir(cache_dir))
    labels = list(labels)
    config = DebertaV2Config(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, num_labels=len(labels),
                             id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)},
                             **ARCH)
    apply_dropout(config, dropout)
    return DebertaV2ForSequenceClassification(config), tokenizer
