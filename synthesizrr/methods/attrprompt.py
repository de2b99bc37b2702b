"""AttrPrompt (Yu et al., NeurIPS 2023 D&B): attributed prompts (docs/prior_work.md).

1. Attribute dimensions (e.g. subtopic, style, length) are taken from method.settings.attributes, or proposed by
   the teacher for the task in one call.
2. Values: per label and dimension, from the config or proposed by the teacher (one call each).
3. Each generation prompt is the label's instruction plus one value per dimension, drawn with a generator
   seeded by (seed, prompt id).
Proposals are parsed line by line; junk lines are dropped with a counted reason. Missing dimensions are topped
up from method.settings.default_attributes (before values are asked for), a dimension with too few usable values for
a label falls back to its default values or is left out for that label, and a label left with fewer than
num_dimensions dimensions is topped up with default dimensions and values. The result (attributes, their source,
the raw proposals, counts and each prompt's draw) goes to the stage output's attributes.json.
"""
from __future__ import annotations

import logging
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..core.config import Config, ConfigError, DatasetConfig, MethodConfig
from ..core.store import atomic_write_json
from . import prompts as P
from .base import Inputs
from .builders import PromptRow
from .teacher import TeacherMethod, complete, request_seed

log = logging.getLogger("synthesizrr")

_BULLET = re.compile(r"^(?:[-*•·>]+|\(?\d{1,2}[.):]|\(?[a-zA-Z][.)])\s+")
_LEAD_IN = re.compile(r"^(sure|certainly|here|okay|ok|the following|below)\b", re.IGNORECASE)
_FILLER = {"a", "an", "the", "and", "or", "but", "however", "also", "meanwhile", "so", "then", "with", "of", "to",
           "in", "on", "for", "it", "this", "that", "task", "answer", "attribute", "attributes", "value", "values",
           "text", "texts", "example", "examples", "etc"}


@dataclass
class AttributedPromptRow(PromptRow):
    attributes: dict = field(default_factory=dict)   # dimension -> the value drawn for this prompt


@dataclass
class Settings:
    # {dimension: [values]} and/or {label: {dimension: [values]}}; null: the teacher proposes them. Typed Any so
    # that a command-line mapping replaces it (a typed empty mapping would need '+' for every key)
    attributes: Any = None
    default_attributes: Dict[str, List[str]] = field(default_factory=lambda: {
        "style": ["formal", "informal", "neutral", "vivid", "analytical"],
        "length": ["very short", "short", "medium-length"]})   # fallbacks for junk proposals
    num_dimensions: int = 4          # dimensions asked for (teacher proposals plus defaults)
    num_values: int = 5              # values asked for per label and dimension
    min_values: int = 2              # fewer usable values: the default values, or the dimension is left out
    max_item_words: int = 6          # longer proposal lines are dropped
    proposal_max_tokens: int = 96
    template: str = "{instruction} Its attributes: {attributes}."

    def __post_init__(self) -> None:
        for key in ("num_dimensions", "num_values", "min_values", "max_item_words", "proposal_max_tokens"):
            if getattr(self, key) < 1:
                raise ConfigError(f"method.settings.{key}={getattr(self, key)} is out of range: allowed >= 1")


# ---- parsing teacher proposals --------------------------------------------------------------------------
def _clean_item(line: str, prefix: Optional[str]) -> str:
    item = _BULLET.sub("", line.strip()).strip()
    item = item.replace("**", "").replace("__", "").strip()
    if prefix and item.lower().startswith(prefix.lower() + ":"):
        item = item[len(prefix) + 1:].strip()
    if ":" in item:                      # "Mergers: companies buying others" -> "Mergers"
        item = item.split(":", 1)[0].strip()
    elif " - " in item:
        item = item.split(" - ", 1)[0].strip()
    item = item.strip(" \t\"'`“”‘’").rstrip(".;,!").strip()
    return re.sub(r"^(and|or)\s+", "", item, flags=re.IGNORECASE)


def parse_items(text: str, max_items: int, max_words: int, prefix: Optional[str] = None) -> tuple[list[str], Counter]:
    """Short list items from a teacher's answer (numbered, bulleted, one per line, or one line of short
    comma-separated items), and the count of dropped lines per reason: lead_in, empty, no_letters, filler (only
    function words or words of the question), too_long, duplicate, over_limit."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) == 1 and "," in lines[0]:
        pieces = [piece for piece in lines[0].split(",") if piece.strip()]
        if all(len(_clean_item(piece, prefix).split()) <= max_words for piece in pieces):
            lines = pieces                   # "a, b and c" is a list; a sentence with commas is not
    items, drops, seen = [], Counter(), set()
    for line in lines:
        if line.strip().endswith(":") or _LEAD_IN.match(line.strip()):
            drops["lead_in"] += 1
            continue
        item = _clean_item(line, prefix)
        key = re.sub(r"\W+", " ", item.lower()).strip()
        reason = ("empty" if not item else "no_letters" if not re.search(r"[a-zA-Z]", item)
                  else "filler" if set(key.split()) <= _FILLER
                  else "too_long" if len(item.split()) > max_words
                  else "duplicate" if key in seen
                  else "over_limit" if len(items) >= max_items else None)
        if reason:
            drops[reason] += 1
            continue
        seen.add(key)
        items.append(item)
    return items, drops


# ---- attributes from the config -------------------------------------------------------------------------
def _values(where: str, values) -> list[str]:
    if isinstance(values, str) or not hasattr(values, "__iter__") or isinstance(values, dict):
        raise ConfigError(f"{where} must be a list of values, got {values!r}")
    out = [str(v).strip() for v in values if str(v).strip()]
    if not out:
        raise ConfigError(f"{where} is empty: give at least one value")
    return out


def normalize_attributes(given: dict, labels: list[str]) -> dict[str, dict[str, list[str]]]:
    """{label: {dimension: [values]}} from {dimension: [values]} (shared), {label: {dimension: [values]}}
    (per label), or both; a label's own dimension replaces a shared one of the same name."""
    shared, own = {}, {}
    for key, value in given.items():
        if key in labels and isinstance(value, dict):
            own[key] = {str(d): _values(f"method.settings.attributes.{key}.{d}", v) for d, v in value.items()}
        elif isinstance(value, dict):
            raise ConfigError(f"method.settings.attributes.{key} is a mapping but {key!r} is not a label: "
                              f"allowed labels {', '.join(labels)}")
        else:
            shared[str(key)] = _values(f"method.settings.attributes.{key}", value)
    return {lab: {**shared, **own.get(lab, {})} for lab in labels}


# ---- attributes proposed by the teacher -----------------------------------------------------------------
def _ask(teacher, cfg: Config, prompts: dict[str, str], max_tokens: int, counts: Counter,
         keys: list) -> dict[str, str]:
    """One cached teacher call per (prompt id, prompt); answers by prompt id ('' for a failed call). The calls'
    cache keys are added to `keys`."""
    from ..teachers import Request

    reqs = [Request(prompt=p, max_new_tokens=max_tokens, seed=request_seed(cfg.seed, pid),
                    system=cfg.dataset.prompts.system, stop=tuple(cfg.teacher.stop)) for pid, p in prompts.items()]
    keys += teacher.call_keys(reqs)
    comps = complete(teacher, reqs, "attrprompt proposals")
    counts["proposal_calls"] += len(reqs)
    counts["proposal_errors"] += sum(c.error is not None for c in comps)
    return {pid: ("" if c.error else c.text) for pid, c in zip(prompts, comps)}


def dimension_prompt(dcfg: DatasetConfig, n: int, examples: list[str]) -> str:
    task = P.instruction(dcfg.prompts.fewgen_instruction, "one of these classes: " + ", ".join(dcfg.labels))
    hint = f" (for example: {', '.join(examples)})" if examples else ""
    return (f"Task: {task}\nList {n} attributes in which such texts can differ{hint}. "
            f"Answer with one short attribute name per line.")


def value_prompt(dcfg: DatasetConfig, description: str, dimension: str, n: int) -> str:
    task = P.instruction(dcfg.prompts.fewgen_instruction, description)
    return (f"Task: {task}\nList {n} different values of the attribute \"{dimension}\" for such texts. "
            f"Answer with one short value per line.")


def propose_attributes(cfg: Config, s: Settings, teacher) -> dict:
    """Ask the teacher for dimensions, then for each label's values; fall back on defaults. Returns the record
    written to attributes.json: attributes, sources, raw proposals and counts."""
    d = cfg.dataset
    defaults = {str(k): _values(f"method.settings.default_attributes.{k}", v)
                for k, v in (s.default_attributes or {}).items()}
    counts, keys = Counter(), []
    raw = {"dimensions": _ask(teacher, cfg, {"attrprompt-dimensions": dimension_prompt(
        d, s.num_dimensions, list(defaults))}, s.proposal_max_tokens, counts, keys)["attrprompt-dimensions"]}
    dims, drops = parse_items(raw["dimensions"], s.num_dimensions, s.max_item_words)
    counts.update({f"dimension_lines_{k}": v for k, v in drops.items()})
    counts["dimensions_from_teacher"] = len(dims)
    for dim in defaults:                             # top up from the defaults
        if len(dims) < s.num_dimensions and dim.lower() not in {x.lower() for x in dims}:
            dims.append(dim)
            counts["dimensions_from_defaults"] += 1
    asks = {f"attrprompt-values-{lab}-{dim}": value_prompt(d, desc, dim, s.num_values)
            for lab, desc in d.labels.items() for dim in dims}
    answers = _ask(teacher, cfg, asks, s.proposal_max_tokens, counts, keys)
    attributes, sources = {lab: {} for lab in d.labels}, {lab: {} for lab in d.labels}
    for label in d.labels:
        for dim in dims:
            text = raw[f"{label}/{dim}"] = answers[f"attrprompt-values-{label}-{dim}"]
            values, drops = parse_items(text, s.num_values, s.max_item_words, prefix=dim)
            counts.update({f"value_lines_{k}": v for k, v in drops.items()})
            default = next((v for k, v in defaults.items() if k.lower() == dim.lower()), None)
            if len(values) >= s.min_values:
                attributes[label][dim], sources[label][dim] = values, "teacher"
            elif default:
                attributes[label][dim], sources[label][dim] = default, "default"
                counts["values_from_defaults"] += 1
            else:
                counts["dimensions_left_out"] += 1
        for dim, values in defaults.items():         # a label short of dimensions gets default ones
            if len(attributes[label]) < s.num_dimensions and dim.lower() not in map(str.lower, attributes[label]):
                attributes[label][dim], sources[label][dim] = values, "default"
                counts["label_dimensions_from_defaults"] += 1
    return {"attributes": attributes, "sources": sources, "proposals": raw, "counts": dict(counts),
            "call_keys": keys}


# ---- prompts --------------------------------------------------------------------------------------------
def attributed_prompts(dcfg: DatasetConfig, mcfg: MethodConfig, template: str,
                       attributes: dict[str, dict[str, list[str]]], seed: int) -> tuple[list[AttributedPromptRow], Counter]:
    """num_samples_per_label prompts per label, each with one value per dimension drawn (seeded) for it."""
    rows, stats = [], Counter()
    for label, desc in dcfg.labels.items():
        instr = P.instruction(dcfg.prompts.fewgen_instruction, desc)
        dims = attributes.get(label, {})
        if not dims:
            stats["labels_without_attributes"] += 1
            log.warning("attrprompt: label %s has no attribute; its prompts are plain zero-shot prompts", label)
        for i in range(mcfg.num_samples_per_label):
            pid = f"attrprompt-{label}-{i}"
            rng = random.Random(f"{seed}:{pid}")
            chosen = {dim: rng.choice(values) for dim, values in dims.items()}
            text = instr if not chosen else template.format(
                instruction=instr, attributes="; ".join(f"{k}: {v}" for k, v in chosen.items()))
            rows.append(AttributedPromptRow(pid, label, P.plain_block(dcfg.prompts, text, None), 0,
                                            attributes=chosen))
    stats["distinct_prompts"] = len({r.prompt for r in rows})
    return rows, stats


class AttrPrompt(TeacherMethod):
    name = "attrprompt"
    title = "AttrPrompt"
    Settings = Settings
    order = 30

    def prompts(self, inp: Inputs, teacher) -> tuple[list[AttributedPromptRow], Counter]:
        return attrprompt_prompts(inp.cfg, self.settings, teacher, Path(inp.out))


def attrprompt_prompts(cfg: Config, s: Settings, teacher, out: Path) -> tuple[list[AttributedPromptRow], Counter]:
    """Attributes (config or teacher), the prompts, and attributes.json in `out`."""
    labels = list(cfg.dataset.labels)
    if s.attributes:
        attributes = normalize_attributes(s.attributes, labels)
        sources = {lab: dict.fromkeys(dims, "config") for lab, dims in attributes.items()}
        record = {"attributes": attributes, "sources": sources, "proposals": {}, "counts": {}, "call_keys": []}
    else:
        record = propose_attributes(cfg, s, teacher)
    rows, stats = attributed_prompts(cfg.dataset, cfg.method, s.template, record["attributes"], cfg.seed)
    stats.update(record["counts"])
    keys = record.pop("call_keys")
    atomic_write_json(out / "attributes.json", {**record, "assignments": {r.prompt_id: r.attributes for r in rows}})
    if keys:   # kept by `synthesizrr-store clean` for a recorded run (the generation calls are appended)
        (out / "call_keys.txt").write_text("\n".join(keys) + "\n")
    return rows, stats
