"""The plan half of preflight (synthesizrr/preflight.py): counts per stage and API cost for each sweep point, a
GPU memory plan per stage against the visible GPUs, and the disk the corpus index needs.

Counts are upper bounds from the config: prompts (num_samples_per_label x labels, or the retrieval bound
seeds x top_k per label), prompt tokens (template text counted with the teacher's tokenizer when it is cached,
else about 4 characters per token; demonstrations and documents at their configured caps), new tokens
(max_new_tokens per prompt). GPU memory: parameters from the cached config (meta-device instantiation, or a table
of the paper's models) times bytes per parameter; training adds gradients and AdamW (16 bytes per parameter in
all, bf16 autocast) and activations (Korthikanti et al. 2022: s*b*h*(34 + 5*a*s/h) bytes per layer). vLLM
reserves gpu_memory_utilization of each GPU. SYNTHESIZRR_FAKE_GPU_MEM_GB=80[,80...] stands in for the GPUs.
"""
from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .core.assets import resolve_model
from .core.config import STAGES
from .methods import prompts as P
from .teachers.base import approx_count
from .teachers.hf import DTYPES

GB = 1e9


@dataclass
class Row:
    kind: str                      # model | tokenizer | dataset | files | spacy | extra | env | counts | gpu | disk
    item: str
    status: str
    detail: str = ""
    fix: str = ""                  # the command or step that removes a blocker
    blocks: bool = False
    used_by: set = field(default_factory=set)


@dataclass
class Point:
    label: str                     # its swept overrides
    cfg: object
    method: object

    def reaches(self, stage: str) -> bool:
        return STAGES.index(stage) <= STAGES.index(self.cfg.stage)


# parameters, hidden size, layers, heads of the paper's models, for a plan made before they are downloaded
KNOWN = {"TheBloke/Llama-2-13B-Chat-fp16": (13.0e9, 5120, 40, 40),
         "meta-llama/Llama-2-13b-chat-hf": (13.0e9, 5120, 40, 40),
         "microsoft/deberta-v3-large": (435e6, 1024, 24, 16), "microsoft/deberta-v3-base": (184e6, 768, 12, 12),
         "facebook/contriever": (110e6, 768, 12, 12), "gpt2-xl": (1.56e9, 1600, 48, 25),
         "distilbert-base-uncased": (66e6, 768, 6, 12), "sentence-transformers/all-mpnet-base-v2": (110e6, 768, 12, 12)}


@lru_cache(maxsize=None)
def facts(name: str, causal: bool = False) -> tuple | None:
    """(parameters, hidden size, layers, heads) of a model from its cached config, else the table, else None."""
    try:
        import torch
        from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

        config = AutoConfig.from_pretrained(resolve_model(name))
        with torch.device("meta"):
            model = (AutoModelForCausalLM if causal else AutoModel).from_config(config)
        return (sum(p.numel() for p in model.parameters()), config.hidden_size, config.num_hidden_layers,
                config.num_attention_heads)
    except Exception:  # noqa: BLE001 - not cached, offline, an architecture without a config: use the table
        return KNOWN.get(name)


def _b(x: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if x >= size:
            return f"{x / size:.2f} {unit}"
    return f"{x:.0f} B"


def _n(x: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"{x / size:.1f}{unit}"
    return f"{x:.0f}"


# ---- counts and cost ------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _counter(model: str, backend: str):
    """Token counter of the teacher: its tokenizer when cached (hf, vllm), else the 4-characters approximation."""
    if backend in ("hf", "vllm"):
        try:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(resolve_model(model))
            return lambda text: len(tok(text, add_special_tokens=False)["input_ids"]), "tokenizer"
        except Exception:  # noqa: BLE001 - not cached: approximate
            pass
    return approx_count, "≈4 chars/token"


def counts(cfg, method) -> dict:
    d, t, m = cfg.dataset, cfg.teacher, cfg.method
    labels, new = len(d.labels), t.max_new_tokens or d.max_num_tokens
    if not method.uses_teacher:
        prompts = 0
    elif method.needs_retrieval:
        prompts = labels * min(m.num_samples_per_label, d.seed_size_per_label * cfg.retriever.top_k)
    else:
        prompts = labels * m.num_samples_per_label
    count, how = _counter(t.model, t.backend)
    instruction = d.prompts.synthesizrr_instruction if method.needs_index else d.prompts.fewgen_instruction
    template = count(" ".join([d.prompts.document_header, P.instruction(instruction, max(d.labels.values(), key=len)),
                               d.prompts.answer_prefix])) + 8
    doc = cfg.corpus.max_tokens if method.needs_index else 0
    retricl = method.needs_retrieval and getattr(method.settings, "icl_type", "retrieved") == "retrieved"
    per_prompt = min(t.context_length - new, m.num_shots * (template + d.max_num_tokens + (doc if retricl else 0))
                     + template + doc)
    made = prompts if method.uses_teacher else labels * m.num_samples_per_label   # examples synthesize makes, at most
    wanted = cfg.filter.num_samples or method.default_final_size(cfg) or made
    final = int(cfg.filter.keep_fraction * wanted) if cfg.filter.name == "cartography" else wanted
    cost = (prompts * per_prompt * t.price_per_1m_input + prompts * new * t.price_per_1m_output) / 1e6
    return {"prompts": prompts, "prompt_tokens": prompts * per_prompt, "new_tokens": prompts * new, "how": how,
            "cartography": made if cfg.filter.name == "cartography" and not method.real_data else 0,
            "final": final, "seeds": len(cfg.student.seeds), "cost": cost}


def count_rows(points) -> list:
    rows, total = [], {"prompts": 0, "prompt_tokens": 0, "new_tokens": 0, "cost": 0.0}
    for p in points:
        c, cfg = counts(p.cfg, p.method), p.cfg
        parts = [f"{c['prompts']} prompts" + (f", ≤ {_n(c['prompt_tokens'])} prompt tokens ({c['how']}), "
                                              f"≤ {_n(c['new_tokens'])} new tokens" if c["prompts"] else "")]
        if p.reaches("filter") and c["cartography"]:
            parts.append(f"cartography ≤ {c['cartography']} examples × {cfg.filter.epochs} epochs")
        if p.reaches("distill"):
            parts.append(f"student ≤ {c['final']} examples × {c['seeds']} seeds × {cfg.student.epochs} epochs")
        if c["cost"]:
            parts.append(f"API ≤ ${c['cost']:.2f}")
        rows.append(Row("counts", p.label, "ok", "; ".join(parts), used_by={"per stage"}))
        for k in total:
            total[k] += c[k]
    cost = f"; API ≤ ${total['cost']:.2f}" if total["cost"] else ""
    rows.append(Row("counts", "sweep total", "ok", f"{total['prompts']} prompts, ≤ {_n(total['prompt_tokens'])} "
                    f"prompt tokens, ≤ {_n(total['new_tokens'])} new tokens{cost}", used_by={"teacher"}))
    return rows


# ---- GPU memory -----------------------------------------------------------------------------------------------

def visible_gpus() -> list[float]:
    """Memory of each visible GPU in bytes (SYNTHESIZRR_FAKE_GPU_MEM_GB=80,80 stands in for them)."""
    fake = os.environ.get("SYNTHESIZRR_FAKE_GPU_MEM_GB")
    if fake:
        return [float(x) * GB for x in fake.split(",") if x.strip()]
    import torch

    return [torch.cuda.get_device_properties(i).total_memory for i in range(torch.cuda.device_count())]


def training(name: str, batch: int, length: int) -> tuple:
    f = facts(name)
    if f is None:
        return None, f"{name}: size unknown"
    params, h, layers, heads = f
    act = layers * length * batch * h * (34 + 5 * heads * length / h)
    return 16 * params + act, (f"{name} {_n(params)} params: weights+grads+AdamW {_b(16 * params)} + "
                               f"activations (batch {batch} × {length}) {_b(act)}")


def inference(name: str, bytes_per: int, what: str) -> tuple:
    f = facts(name)
    return (None, f"{name}: size unknown") if f is None else \
        (f[0] * bytes_per, f"{what} {name} {_n(f[0])} params × {bytes_per} B")


def teacher_need(t, gpu: float) -> tuple:
    """(bytes held during synthesize, what, blocker or '')."""
    if t.backend not in ("hf", "vllm"):
        return 0, f"{t.backend} teacher: not on this GPU", ""
    f = facts(t.model, causal=True)
    if f is None:
        return None, f"{t.model}: size unknown", ""
    params, h, layers, _ = f
    dtype = DTYPES.get(t.dtype, "bfloat16")
    width = 4 if dtype == "float32" else 2
    kv_seq = 2 * layers * h * t.context_length * 2            # keys and values of one full-length sequence, 16-bit
    if t.backend == "hf":
        need = params * width + t.batch_size * kv_seq
        return need, f"hf {t.model} {_n(params)} params {dtype} {_b(params * width)} + KV cache " \
                     f"{t.batch_size} × {t.context_length} tokens {_b(t.batch_size * kv_seq)}", ""
    tp, util = int(t.extra.get("tensor_parallel_size", 1)), float(t.extra.get("gpu_memory_utilization", 0.9))
    weights = params * width / tp
    what = f"vllm reserves {util:.2f} × GPU; {t.model} {_n(params)} params {dtype} {_b(weights)} per GPU " \
           f"(tp {tp}) + one {t.context_length}-token sequence's KV {_b(kv_seq / tp)}"
    short = weights + kv_seq / tp > util * gpu
    return util * gpu, what, ("weights and one sequence's KV cache exceed gpu_memory_utilization × GPU: raise "
                              "teacher.extra.gpu_memory_utilization or tensor_parallel_size") if short else ""


def stage_needs(p, gpu: float) -> dict:
    """{stage: (bytes or None, what, blocker)} of what one point holds on a GPU at once in each stage."""
    cfg, m = p.cfg, p.method
    out = {}
    if m.needs_index and cfg.retriever.kind == "dense" and p.reaches("index"):
        out["index"] = (*inference(cfg.retriever.model, 2, "encoder fp16"), "")
    if m.uses_teacher and p.reaches("synthesize"):
        out["synthesize"] = teacher_need(cfg.teacher, gpu)
    if p.reaches("filter") and cfg.filter.name == "cartography" and not m.real_data:
        out["filter"] = (*training(cfg.filter.model, cfg.filter.batch_size, cfg.filter.max_length), "")
    if p.reaches("distill"):
        out["distill"] = (*training(cfg.student.model, cfg.student.batch_size, cfg.student.max_length), "")
    if p.reaches("evaluate"):
        mt, parts = cfg.metrics, []
        if mt.mauve:
            parts.append(inference(mt.mauve_featurizer, 4, "featurizer fp32"))
        if mt.embedding_similarity:
            parts.append(inference(mt.embedding_model, 4, "embedder fp32"))
        if parts:   # both stay loaded (metrics.features caches them)
            need = None if any(b is None for b, _ in parts) else sum(b for b, _ in parts)
            out["evaluate"] = (need, " + ".join(w for _, w in parts), "")
    return out


def gpu_rows(points) -> list:
    gpus = visible_gpus()
    gpu = min(gpus) if gpus else 0.0
    worst: dict[str, tuple] = {}
    for p in points:
        for stage, (need, what, blocker) in stage_needs(p, gpu).items():
            if stage not in worst or (need or 0) > (worst[stage][0] or 0) or blocker:
                worst[stage] = (need, what, blocker, p.label)
    rows = []
    for stage, (need, what, blocker, label) in sorted(worst.items(), key=lambda kv: STAGES.index(kv[0])):
        vllm = stage == "synthesize" and what.startswith("vllm")
        if not gpus:
            status, fix = ("no GPU", "vLLM needs a GPU: run on a GPU machine or choose teacher backend hf or openai") \
                if vllm else ("cpu", "")
            detail = f"{what}; no GPU visible: runs on CPU"
        else:
            big = need is not None and need > gpu
            status = "does not fit" if big or blocker else ("fits" if need is not None else "unknown")
            fix = blocker or (f"a GPU with ≥ {_b(need)}, or smaller batches / max_length" if big else "")
            detail = f"{'?' if need is None else _b(need)} of {_b(gpu)} ({len(gpus)} GPU): {what}"
        rows.append(Row("gpu", stage, status, detail, fix, bool(fix), {label}))
    return rows


# ---- disk -----------------------------------------------------------------------------------------------------

def corpus_docs(cfg) -> tuple:
    """(number of documents, bytes of the corpus files) as far as known without reading the corpus."""
    k = cfg.corpus
    if k.source == "bbc_embedded":
        from .core.assets import bbc_split

        return len(bbc_split()["pool"]), 0
    if k.source != "local":
        return k.max_docs, 0
    pattern = k.path if Path(k.path).is_absolute() else str(Path(cfg.corpus_root) / k.path)
    files = [Path(f) for f in (glob.glob(pattern) if glob.has_magic(pattern) else [pattern]) if Path(f).is_file()]
    size = sum(f.stat().st_size for f in files)
    docs = 0
    for f in files:
        if f.suffix == ".parquet":
            import pyarrow.parquet as pq

            docs += pq.ParquetFile(f).metadata.num_rows
        else:                                   # lines of the first MB, scaled to the file's size
            with open(f, "rb") as fh:
                head = fh.read(1 << 20)
            docs += round(head.count(b"\n") * f.stat().st_size / max(1, len(head)))
    return (min(docs, k.max_docs) if k.max_docs else docs), size


def disk_rows(points) -> list:
    rows, seen = [], set()
    for p in points:
        cfg = p.cfg
        key = (cfg.corpus.name, cfg.retriever.model)
        if not (p.method.needs_index and p.reaches("index")) or cfg.retriever.kind != "dense" or key in seen:
            continue
        seen.add(key)
        docs, size = corpus_docs(cfg)
        f = facts(cfg.retriever.model)
        if docs is None or f is None:
            rows.append(Row("disk", f"index {cfg.corpus.name}", "unknown", "corpus size or encoder unknown",
                            used_by={"index"}))
            continue
        need = docs * f[1] * 4 + size
        where = next(q for q in [Path(cfg.store_dir).resolve(), *Path(cfg.store_dir).resolve().parents] if q.exists())
        free = shutil.disk_usage(where).free
        fix = f"free {_b(need)} under {where} or set store_dir" if need > free else ""
        rows.append(Row("disk", f"index {cfg.corpus.name}", "does not fit" if fix else "fits",
                        f"{docs} docs × {f[1]} dims × 4 B + corpus copy {_b(size)} = {_b(need)}; free {_b(free)}",
                        fix, bool(fix), {"index"}))
    return rows


def plan_rows(points) -> list:
    return count_rows(points) + gpu_rows(points) + disk_rows(points)
