"""Load every hub id of conf/ the way the project does, with the stand-in hub's environment (run as a script by
test_standin_hub.py). Prints one JSON line per check: {"check", "ok", "info" | "error"}."""
from __future__ import annotations

import json
import sys
import time
import traceback

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from synthesizrr.testing.standin_hub import CONF, conf_dataset_ids, conf_model_ids, section_schema

TEXTS = ["Shares in the bank rose after strong profits.", "", "The striker scored twice in the cup final."]


def composed(rel: str):
    """conf/<group>/<name>.yaml composed by Hydra and merged into the project's typed schema."""
    group, name = rel.removesuffix(".yaml").split("/", 1)
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        node = compose(config_name=f"{group}/{name}")[group]
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(section_schema(group)), node))


def teacher(hub_id: str, rel: str) -> dict:
    from synthesizrr.teachers import Request, build_teacher

    cfg = composed(rel)
    if cfg.backend != "hf":
        return {"skipped": f"backend {cfg.backend} (checked through the hf teacher)"}
    teacher = build_teacher(cfg, None)
    done = teacher.generate([Request("News article: markets fell.", max_new_tokens=4, seed=1),
                             Request("Summary of a longer news article about sport and goals:", 4, seed=2)],
                            progress=False)
    bad = [c.error for c in done if c.error or c.tokens_out < 1]
    assert not bad, f"generation failed: {bad}"
    return {"texts": [c.text for c in done], "tokens_out": [c.tokens_out for c in done],
            "tokenizer": type(teacher.backend.tokenizer).__name__}


def student(hub_id: str, rel: str) -> dict:
    import torch
    from distill.models import load_student

    model, tok = load_student(composed(rel).model, ["a", "b", "c"])
    enc = tok(TEXTS, padding=True, truncation=True, max_length=32, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits
    assert tuple(logits.shape) == (3, 3), logits.shape
    return {"model": type(model).__name__, "tokenizer": type(tok).__name__, "ids": enc["input_ids"][0].tolist()}


def retriever(hub_id: str, rel: str) -> dict:
    from synthesizrr.retrieval.encoder import Encoder

    vectors = Encoder(composed(rel)).encode(TEXTS)
    assert vectors.shape[0] == 3 and abs(float((vectors[0] ** 2).sum()) - 1) < 1e-4, vectors.shape
    return {"shape": list(vectors.shape)}


def featurizer(hub_id: str, rel: str) -> dict:
    from metrics.features import encode, featurizer_kind

    vectors = encode(TEXTS, hub_id, max_length=composed(rel).mauve_max_length, device="cpu", progress=False)
    assert vectors.shape[0] == 3, vectors.shape
    info = {"kind": featurizer_kind(hub_id), "shape": list(vectors.shape)}
    if hub_id.startswith("sentence-transformers/"):   # the repo layout also loads as a SentenceTransformer
        from sentence_transformers import SentenceTransformer

        info["sentence_transformers"] = list(SentenceTransformer(hub_id, device="cpu").encode(TEXTS).shape)
    return info


LOADERS = {"teacher": teacher, "student": student, "filter": student, "retriever": retriever,
           "metrics": featurizer}


def dataset(rel: str) -> dict:
    from synthesizrr.data import load_splits

    cfg = composed(rel)
    splits = load_splits(cfg, data_root="unused-for-hub-datasets")
    return {"hub_id": cfg.path, **{s: {"rows": len(rows), "labels": sorted({r["label"] for r in rows})}
                                   for s, rows in splits.items()}}


def spacy_lg() -> dict:
    import spacy
    from metrics.spacy_models import load_pipeline

    nlp = spacy.load("en_core_web_lg")
    _, used = load_pipeline("en_core_web_lg", "ner")
    assert used == "en_core_web_lg", f"load_pipeline fell back to {used}"
    return {"meta_name": nlp.meta["name"], "pipeline": nlp.pipe_names,
            "ents": [e.label_ for e in nlp("Apple hired Tim Cook in London.").ents]}


def run(check: str, fn, *args) -> None:
    start = time.perf_counter()
    try:
        line = {"check": check, "ok": True, "info": fn(*args)}
    except Exception as exc:   # noqa: BLE001 - every failure is reported, with its traceback
        line = {"check": check, "ok": False, "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()[-3000:]}
    line["seconds"] = round(time.perf_counter() - start, 2)
    print(json.dumps(line, default=str), flush=True)


def main() -> None:
    for hub_id, files in conf_model_ids().items():
        for rel in files:
            if rel.split("/")[0] in LOADERS:
                run(f"model:{hub_id}:{rel}", LOADERS[rel.split("/")[0]], hub_id, rel)
    for rel in sorted(r for files in conf_dataset_ids().values() for r in files if r.startswith("dataset/")):
        run(f"dataset:{rel.removeprefix('dataset/').removesuffix('.yaml')}", dataset, rel)
    run("spacy:en_core_web_lg", spacy_lg)


if __name__ == "__main__":
    sys.exit(main())
