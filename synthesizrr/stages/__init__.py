"""The pipeline's stages, one module each. A stage module declares

- NAME, VERSION (bump when its output format or meaning changes, so old cache entries are not reused),
- INPUTS: earlier stages whose content fingerprints enter its cache key (those the run has),
- OUTPUTS: files whose content fingerprint later stages' keys use (none: the key stands for the content),
- key_extra(run) -> dict: key parts beyond the config fields declared for the stage (synthesizrr/core/config.py),
- compute(run, out, work) -> figures: fill `out` (a temp dir, renamed when done); `work` survives kills.

`run` is the Pipeline (synthesizrr/pipeline.py): cfg, method, paths of finished stages, teacher().
"""
ORDER = ("prepare", "index", "retrieve", "synthesize", "filter", "distill", "evaluate", "oracle")
