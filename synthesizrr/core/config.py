"""Typed schema of the Hydra config. Composed YAML is merged into these dataclasses, so an unknown key,
a wrong type or an out-of-range value fails before any work starts, naming the key.

Each section declares which stages consume its fields (`@consumed_by`): a stage's cache key is built from the
fields declared for it (synthesizrr/core/keys.py) plus its inputs' content fingerprints. A new field is consumed
by its section's stages unless it is listed in `ignore` (fields that change no output: devices, display names).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .errors import ConfigError


def _choice(key: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed: choose one of {', '.join(map(str, allowed))}")


def _range(key: str, value: Optional[float], lo: Optional[float] = None, hi: Optional[float] = None,
           lo_open: bool = False, hi_open: bool = False) -> None:
    if value is None:
        return
    bad = (lo is not None and (value <= lo if lo_open else value < lo)) or \
          (hi is not None and (value >= hi if hi_open else value > hi))
    if bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        raise ConfigError(f"{key}={value} is out of range: allowed {left}{'-inf' if lo is None else lo}, "
                          f"{'inf' if hi is None else hi}{right}")


def consumed_by(*stages: str, fields: Optional[Dict[str, tuple]] = None, ignore: tuple = ()):
    """Class decorator: every field of the section feeds the cache keys of `stages`, except the fields in
    `ignore` (they change no output) and those given stages of their own in `fields`."""
    def wrap(cls):
        cls.__consumers__ = (tuple(stages), dict(fields or {}), tuple(ignore))
        return cls
    return wrap


def _band(key: str, band: List[float]) -> None:
    if len(band) != 2 or not (-1.0 <= band[0] <= band[1] <= 1.0):
        raise ConfigError(f"{key}={list(band)} is not a similarity band: allowed [lo, hi] with -1 <= lo <= hi <= 1")


@consumed_by("synthesize")
@dataclass
class PromptConfig:
    """Prompt pieces for one dataset, in this project's own words (REFERENCE.md section 6)."""
    document_header: str = "News article:"        # names the retrieved document's type
    synthesizrr_instruction: str = MISSING        # refers to "the above" document; uses {label_description}
    fewgen_instruction: str = MISSING             # asks for the task's kind of text; uses {label_description}
    answer_prefix: str = MISSING                  # e.g. "Summary:"; the model continues after it
    fewgen_answer_prefix: Optional[str] = None    # FewGen/ZeroGen/AttrPrompt blocks (default: answer_prefix)
    refusal_markers: List[str] = field(default_factory=list)   # outputs containing these are dropped
    stop: List[str] = field(default_factory=lambda: ["\n\n"])  # where an answer ends (see generation.*)
    system: Optional[str] = None                  # system message for chat templates


@consumed_by("prepare", fields={"labels": ("prepare", "synthesize"), "max_num_tokens": ("synthesize",),
                               "prompts": ("synthesize",)})
@dataclass
class DatasetConfig:
    name: str = MISSING
    source: str = "hub"                  # hub | local | bbc_embedded
    path: str = ""                       # hub id, or the folder of data_files relative to data_root
    subset: Optional[str] = None
    data_files: Dict[str, str] = field(default_factory=dict)   # split -> file (local source)
    splits: Dict[str, str] = field(default_factory=lambda: {"train": "train", "test": "test"})
    text_column: str = "text"
    label_column: str = "label"
    label_map: Dict[str, str] = field(default_factory=dict)    # raw value -> label name
    labels: Dict[str, str] = MISSING     # label name -> verbalization spliced into instructions
    seed_size_per_label: int = 50
    seed_sampling: str = "without_replacement"   # with_replacement reproduces the reference
    max_test_examples: Optional[int] = None      # seeded subsample of the test split
    max_num_tokens: int = 200                    # teacher max new tokens; ICL texts shortened to it
    min_text_chars: int = 1
    prompts: PromptConfig = field(default_factory=PromptConfig)

    def __post_init__(self) -> None:
        _choice("dataset.source", self.source, ("hub", "local", "bbc_embedded"))
        _choice("dataset.seed_sampling", self.seed_sampling, ("without_replacement", "with_replacement"))
        _range("dataset.seed_size_per_label", self.seed_size_per_label, 1)
        _range("dataset.max_num_tokens", self.max_num_tokens, 1)
        if not self.labels:
            raise ConfigError("dataset.labels is empty: give at least two labels with a description each")
        for split in ("train", "test"):
            if split not in self.splits:
                raise ConfigError(f"dataset.splits lacks '{split}': allowed keys train, test, validation")


@consumed_by("index", fields={"min_tokens": ("synthesize",), "max_tokens": ("synthesize",),
                             "long_documents": ("synthesize",)})
@dataclass
class CorpusConfig:
    name: str = MISSING
    source: str = "local"                # hub | local | bbc_embedded
    path: str = ""                       # hub id, or a file/glob relative to corpus_root
    split: str = "train"
    text_column: str = "text"
    id_column: Optional[str] = None
    max_docs: Optional[int] = None
    min_tokens: int = 20                 # documents outside [min_tokens, max_tokens] are skipped
    max_tokens: int = 400                # longer documents are shortened to this many (reference) ...
    long_documents: str = "shorten"      # ... or skipped: shorten | skip

    def __post_init__(self) -> None:
        _choice("corpus.source", self.source, ("hub", "local", "bbc_embedded"))
        _choice("corpus.long_documents", self.long_documents, ("shorten", "skip"))
        _range("corpus.min_tokens", self.min_tokens, 0)
        _range("corpus.max_tokens", self.max_tokens, max(1, self.min_tokens))


@consumed_by("index", fields={"kind": ("index", "synthesize"), "top_k": ("retrieve", "synthesize"),
                             "hnsw_ef_search": ("retrieve",), "ivf_nprobe": ("retrieve",),
                             "icl_ranks": ("synthesize",), "icl_band": ("synthesize",), "gen_band": ("synthesize",),
                             "dedup": ("synthesize",)},
             ignore=("name", "batch_size", "device"))
@dataclass
class RetrieverConfig:
    name: str = MISSING
    kind: str = "dense"                  # dense | bm25 | random
    model: str = "offline:minilm"        # encoder hub id or offline:<name>
    pooling: str = "mean"                # mean | cls
    max_length: int = 256
    batch_size: int = 64
    index: str = "flat"                  # flat (exact inner product) | ivf | hnsw
    ivf_nlist: int = 1024
    ivf_nprobe: int = 32
    hnsw_m: int = 32
    hnsw_ef_search: int = 128
    top_k: int = 50                      # documents kept per seed
    icl_ranks: List[int] = field(default_factory=lambda: [1, 2])
    icl_band: List[float] = field(default_factory=lambda: [0.5, 0.9])
    gen_band: List[float] = field(default_factory=lambda: [0.4, 0.9])
    dedup: bool = True                   # drop documents already used by another seed (off = reference)
    icl_exclude_same_seed: bool = True   # RetrICL: never show the input's own seed as a demo (off = reference)
    device: str = "auto"
    dtype: str = "auto"                  # auto: float16 on GPU, float32 on CPU

    def __post_init__(self) -> None:
        _choice("retriever.kind", self.kind, ("dense", "bm25", "random"))
        _choice("retriever.dtype", self.dtype, ("auto", "float32", "float16", "bfloat16"))
        _choice("retriever.index", self.index, ("flat", "ivf", "hnsw"))
        _choice("retriever.pooling", self.pooling, ("mean", "cls"))
        _range("retriever.top_k", self.top_k, 1)
        _range("retriever.batch_size", self.batch_size, 1)
        _band("retriever.icl_band", self.icl_band)
        _band("retriever.gen_band", self.gen_band)
        if any(r < 1 or r > self.top_k for r in self.icl_ranks):
            raise ConfigError(f"retriever.icl_ranks={list(self.icl_ranks)} must lie in 1..top_k={self.top_k}")


@consumed_by("synthesize", ignore=("name", "n_threads", "device", "base_urls", "api_key_env", "concurrency",
                                   "request_timeout", "max_retries", "backoff_base", "backoff_max", "failure_budget",
                                   "price_per_1m_input", "price_per_1m_output", "batch", "batch_poll_seconds",
                                   "batch_wait_hours", "batch_discount", "price_per_1m_input_batch",
                                   "price_per_1m_output_batch", "max_cost_usd", "requests_per_minute",
                                   "tokens_per_minute"))
@dataclass
class TeacherConfig:
    name: str = MISSING
    backend: str = MISSING               # llamacpp | hf | vllm | openai | anthropic | module:Class
    model: str = MISSING                 # hub id, API model name, GGUF path or offline:<name>
    chat: bool = True                    # apply the chat template; false sends raw prompts
    temperature: float = 0.95
    top_p: float = 0.9
    top_k: Optional[int] = 50
    max_new_tokens: Optional[int] = None  # default: dataset.max_num_tokens
    stop: List[str] = field(default_factory=list)
    context_length: int = 2048
    batch_size: int = 8
    n_threads: Optional[int] = None
    weights: str = "native"              # llamacpp: GGUF weight type to convert to (cached); native keeps the file's
    device: str = "auto"
    dtype: str = "auto"
    base_urls: List[str] = field(default_factory=list)   # OpenAI-compatible servers; requests spread over them
    api_key_env: Optional[str] = None    # name of the environment variable holding the key (never the key)
    concurrency: int = 16
    request_timeout: float = 120.0
    max_retries: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    failure_budget: int = 20             # failed calls tolerated before the run stops
    price_per_1m_input: float = 0.0
    price_per_1m_output: float = 0.0
    batch: bool = False                  # openai/anthropic: send cache misses through the provider's batch API
    batch_poll_seconds: float = 30.0     # first wait between batch status polls (doubles up to 10x)
    batch_wait_hours: float = 24.0       # wait this long for batches, then exit; 0 submits and exits at once
    batch_discount: float = 0.5          # batch price = online price x this, unless batch prices are given
    price_per_1m_input_batch: Optional[float] = None
    price_per_1m_output_batch: Optional[float] = None
    max_cost_usd: Optional[float] = None  # refuse to start a synthesize stage whose estimated cost exceeds it
    requests_per_minute: Optional[float] = None   # send-rate limits per process (token buckets)
    tokens_per_minute: Optional[float] = None     # prompt + max new tokens of each request
    extra: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if ":" not in self.backend:   # "module:Class" names a backend of the user's (checked when it loads)
            _choice("teacher.backend", self.backend, ("llamacpp", "hf", "vllm", "openai", "anthropic"))
        _choice("teacher.weights", self.weights, ("native", "bf16", "f16", "q8_0", "q4_0"))
        _range("teacher.top_p", self.top_p, 0, 1, lo_open=True)
        _range("teacher.temperature", self.temperature, 0)
        _range("teacher.max_new_tokens", self.max_new_tokens, 1)
        _range("teacher.batch_size", self.batch_size, 1)
        _range("teacher.concurrency", self.concurrency, 1)
        _range("teacher.max_retries", self.max_retries, 0)
        _range("teacher.failure_budget", self.failure_budget, 0)
        _range("teacher.context_length", self.context_length, 16)
        _range("teacher.batch_poll_seconds", self.batch_poll_seconds, 0, lo_open=True)
        _range("teacher.batch_wait_hours", self.batch_wait_hours, 0)
        _range("teacher.batch_discount", self.batch_discount, 0, 1)
        _range("teacher.price_per_1m_input_batch", self.price_per_1m_input_batch, 0)
        _range("teacher.price_per_1m_output_batch", self.price_per_1m_output_batch, 0)
        _range("teacher.max_cost_usd", self.max_cost_usd, 0)
        _range("teacher.requests_per_minute", self.requests_per_minute, 0, lo_open=True)
        _range("teacher.tokens_per_minute", self.tokens_per_minute, 0, lo_open=True)


@consumed_by("synthesize", ignore=("display_name", "settings"))   # settings: typed by the method, keyed by it
@dataclass
class MethodConfig:
    name: str = MISSING                  # a registered method (synthesizrr/methods) or any name with `impl`
    impl: Optional[str] = None           # "package.module:Class" or "path/to/file.py:Class"; default: by name
    display_name: Optional[str] = None   # row name in tables; default: the method's own label
    num_shots: int = 0
    num_samples_per_label: int = 100     # prompts per label (a cap for synthesizrr)
    settings: Dict[str, Any] = field(default_factory=dict)   # the method's own typed settings

    def __post_init__(self) -> None:
        _range("method.num_shots", self.num_shots, 0)
        _range("method.num_samples_per_label", self.num_samples_per_label, 1)


@consumed_by("synthesize")
@dataclass
class GenerationConfig:
    """How teacher completions are requested and turned into examples (docs/fidelity.md, items 1-2)."""
    send_stops: bool = True      # send dataset.prompts.stop (never whitespace-only ones) and teacher.stop
    run_on: str = "cut"          # cut: keep the text before a next block | split: every block is an example
    strip_lead_in: bool = True   # drop "Sure! Here is a summary:"-style lead-ins
    refusal_filter: bool = True  # drop outputs that start like a refusal ("I'm sorry", "As an AI", ...)
    dedup: bool = True           # drop exact duplicates (counted either way)
    min_words: int = 3           # shorter outputs are dropped

    def __post_init__(self) -> None:
        _choice("generation.run_on", self.run_on, ("cut", "split"))
        _range("generation.min_words", self.min_words, 1)


@consumed_by("filter")
@dataclass
class FilterConfig:
    name: str = "none"                   # none | cartography
    model: str = "offline:minilm"
    epochs: int = 6
    batch_size: int = 32
    lr: float = 5e-5
    max_length: int = 128
    keep_fraction: float = 0.83          # top fraction by confidence within each label
    num_samples: Optional[int] = None    # N before keep_fraction; final size = int(keep_fraction * N)
    match_distribution: str = "train"    # train | uniform | none
    tolerance: float = 0.02              # a final sample more than this fraction short of its size is an error ...
    allow_shortfall: bool = False        # ... unless allowed: then it is recorded and flagged in the table
    # The filter model's training, as student.* (defaults as StudentConfig; the reference: true, false, false)
    decay_norm_and_bias: bool = False
    group_by_length: bool = True
    bf16: str = "auto"                   # auto | true | false

    def __post_init__(self) -> None:
        _choice("filter.name", self.name, ("none", "cartography"))
        _choice("filter.bf16", str(self.bf16).lower(), ("auto", "true", "false"))
        _choice("filter.match_distribution", self.match_distribution, ("train", "uniform", "none"))
        _range("filter.keep_fraction", self.keep_fraction, 0, 1, lo_open=True)
        _range("filter.epochs", self.epochs, 1)
        _range("filter.num_samples", self.num_samples, 1)


@consumed_by("distill", "oracle", ignore=("name", "eval_batch_size", "device", "parallel_seeds"))
@dataclass
class StudentConfig:
    name: str = MISSING
    model: str = MISSING                 # hub id, local path, offline:minilm or offline:deberta_tiny
    lr: float = 2e-5
    weight_decay: float = 1e-4
    adam_eps: float = 1e-6
    batch_size: int = 32                 # per device
    grad_accum: int = 1                  # effective batch = batch_size * grad_accum
    epochs: int = 6
    warmup_ratio: float = 0.06
    max_length: int = 512
    dropout: Optional[float] = None      # None keeps the model's own dropout
    seeds: List[int] = field(default_factory=lambda: [0])
    group_by_length: bool = True
    bf16: str = "auto"                   # auto | true | false
    schedule: str = "linear"             # linear: decays to 0 over optimizer steps | fmcore: the reference's sizing
    warmup_steps: Optional[int] = None   # warmup in optimizer steps; None: ceil(warmup_ratio x optimizer steps)
    decay_norm_and_bias: bool = False    # true: weight decay on every parameter (reference); false: not on 1-d ones
    freeze_encoder: bool = False         # train only the classification head (a frozen-encoder linear probe)
    eval_batch_size: int = 128
    eval_every_epoch: bool = True
    device: str = "auto"
    parallel_seeds: str = "auto"         # seeds trained at once, one GPU each: auto (visible GPUs) | N | 1

    def __post_init__(self) -> None:
        _range("student.lr", self.lr, 0, lo_open=True)
        _range("student.batch_size", self.batch_size, 1)
        _range("student.grad_accum", self.grad_accum, 1)
        _range("student.epochs", self.epochs, 1)
        _range("student.warmup_ratio", self.warmup_ratio, 0, 1)
        _range("student.dropout", self.dropout, 0, 1, hi_open=True)
        _choice("student.bf16", str(self.bf16).lower(), ("auto", "true", "false"))
        _choice("student.schedule", self.schedule, ("linear", "fmcore"))
        _range("student.warmup_steps", self.warmup_steps, 0)
        if not self.seeds:
            raise ConfigError("student.seeds is empty: give at least one seed")
        ps = str(self.parallel_seeds).strip().lower()
        if ps != "auto" and not (ps.isdigit() and int(ps) >= 1):
            raise ConfigError(f"student.parallel_seeds={self.parallel_seeds!r} is not allowed: use auto or an "
                              f"integer >= 1")


@consumed_by("evaluate", fields={"oracle_max_train": ("evaluate", "oracle")},
             ignore=("sample_table_rows", "device", "baseline"))
@dataclass
class MetricsConfig:
    self_bleu: bool = True
    self_bleu_tokenizer: str = "spacy"   # spacy | regex | whitespace
    self_bleu_max_n: int = 5
    self_bleu_sample: Optional[int] = None
    entity_entropy: bool = True
    spacy_model: str = "en_core_web_lg"  # NER and Self-BLEU tokens; missing: the run stops before any work ...
    spacy_fallback: bool = False         # ... unless this allows en_core_web_sm (the table then names it)
    mauve: bool = True
    mauve_featurizer: str = "gpt2-xl"    # hub id or offline:minilm
    mauve_max_length: int = 512
    mauve_num_buckets: int = 30
    mauve_scaling_factor: float = 1.0
    mauve_reference_split: str = "test"  # test | train | validation
    distinct_n: bool = True
    length_stats: bool = True
    embedding_similarity: bool = False
    embedding_model: str = "offline:minilm"
    label_preservation: bool = False     # oracle trained on real train data, chosen on validation data
    oracle_max_train: Optional[int] = 5000   # seeded subsample of train for the oracle
    sample_table_rows: int = 20
    device: str = "auto"
    intervals: bool = True               # intervals over texts, replicates kept (docs/metrics.md, Report)
    n_resamples: int = 1000              # resamples of Self-BLEU, distinct-n and entity entropy
    mauve_n_resamples: int = 20          # MAUVE: each resample is a full MAUVE computation
    confidence: float = 0.95             # of every interval: over texts and over student seeds
    baseline: str = "FewGen 32-shot"     # method label the report's vs_baseline table compares rows with

    def __post_init__(self) -> None:
        _choice("metrics.self_bleu_tokenizer", self.self_bleu_tokenizer, ("spacy", "regex", "whitespace"))
        _choice("metrics.mauve_reference_split", self.mauve_reference_split, ("test", "train", "validation"))
        _range("metrics.self_bleu_max_n", self.self_bleu_max_n, 1, 5)
        _range("metrics.mauve_num_buckets", self.mauve_num_buckets, 2)
        _range("metrics.mauve_scaling_factor", self.mauve_scaling_factor, 0, lo_open=True)
        _range("metrics.n_resamples", self.n_resamples, 2)
        _range("metrics.mauve_n_resamples", self.mauve_n_resamples, 2)
        _range("metrics.confidence", self.confidence, 0, 1, lo_open=True, hi_open=True)


@consumed_by(ignore=("backend", "mode", "project", "entity", "group", "tags"))
@dataclass
class TrackingConfig:
    backend: str = "wandb"               # wandb | none
    mode: Optional[str] = None           # online | offline | disabled; None: offline without an API key
    project: str = "synthesizrr"
    entity: Optional[str] = None
    group: Optional[str] = None          # default: the experiment name
    tags: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _choice("tracking.backend", self.backend, ("wandb", "none"))
        if self.mode is not None:
            _choice("tracking.mode", self.mode, ("online", "offline", "disabled"))


STAGES = ("prepare", "index", "retrieve", "synthesize", "filter", "distill", "evaluate", "report")
CACHED_STAGES = ("prepare", "index", "retrieve", "synthesize", "filter", "distill", "evaluate", "oracle")


@consumed_by(fields={"seed": ("prepare", "retrieve", "synthesize", "filter", "evaluate", "oracle")},
             ignore=("name", "fidelity", "stage", "force", "store_dir", "results_dir", "data_root", "corpus_root",
                     "verbose", "preflight"))
@dataclass
class Config:
    dataset: DatasetConfig = MISSING
    corpus: CorpusConfig = MISSING
    retriever: RetrieverConfig = MISSING
    teacher: TeacherConfig = MISSING
    method: MethodConfig = MISSING
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    student: StudentConfig = MISSING
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    name: str = "default"                # experiment name: results/<name>/ and the W&B group
    fidelity: str = "improved"           # the fidelity option composed (conf/fidelity/): reference | improved
    seed: int = 42
    stage: str = "report"                # run the pipeline up to this stage
    force: Optional[str] = None          # recompute this stage (and every later one) even when cached; or "all"
    store_dir: str = "store"
    results_dir: str = "results"
    data_root: str = "../shared/data"
    corpus_root: str = "../shared/corpora"
    verbose: bool = False
    preflight: bool = False              # check what every sweep point needs, print one table, exit (no work)

    def __post_init__(self) -> None:
        _choice("stage", self.stage, STAGES)
        if self.force is not None:
            _choice("force", self.force, ("all", *STAGES[:-1]))


def _one_line(exc: OmegaConfBaseException) -> str:
    msg = str(exc).strip().splitlines()[0]
    key = getattr(exc, "full_key", None)
    if key and key not in msg:
        msg = f"{key}: {msg}"
    return msg


def register_schema() -> None:
    """Make `Config` the base of conf/config.yaml (its defaults list starts with `synthesizrr_schema`), so every
    field can be overridden from the command line and unknown keys or wrong types fail at composition."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="synthesizrr_schema", node=Config)


register_schema()


def validate(cfg: DictConfig) -> Config:
    """Merge a composed config into the schema and build typed objects; raise ConfigError on any problem."""
    container = OmegaConf.to_container(cfg, resolve=False)
    container.pop("hydra", None)
    try:
        schema = OmegaConf.structured(Config)
        merged = OmegaConf.merge(schema, container)
        return OmegaConf.to_object(merged)
    except ConfigError:
        raise
    except OmegaConfBaseException as exc:
        raise ConfigError(_one_line(exc)) from exc
