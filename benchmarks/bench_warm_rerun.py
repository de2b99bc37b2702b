"""Warm rerun of the synthesize stage vs the cold run, on the offline teacher (SmolLM2 on llama.cpp).

cold:       fresh store, every prompt goes to the teacher
warm-stage: same config again: the stage output is a cache hit
warm-calls: the stage output is deleted but the teacher call cache is kept: prompts are rebuilt, every call
            is a cache hit (what a resumed run after a crash does)
Prints seconds and the cold/warm ratios (goal: warm at least 50x faster than cold).
    .venv/bin/python benchmarks/bench_warm_rerun.py [--prompts-per-label 10]
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    from hydra import compose, initialize_config_dir

    from synthesizrr.cli import CONF_DIR, run

    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts-per-label", type=int, default=10)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_warm_"))
    overrides = ["experiment=smoke", "method=fewgen", "method.num_shots=4", f"store_dir={tmp}/store",
                 f"results_dir={tmp}/results", "tracking=none", "stage=synthesize",
                 f"method.num_samples_per_label={args.prompts_per_label}"]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides)

    def timed():
        t0 = time.perf_counter()
        summary = run(cfg)
        return time.perf_counter() - t0, summary

    cold, s = timed()
    n = s["synthesize"]["num_prompts"]
    warm_stage, s2 = timed()
    assert s2["stages"]["synthesize"]["cached"]
    shutil.rmtree(tmp / "store" / "synthesize")
    warm_calls, s3 = timed()
    assert s3["teacher_session"]["calls"] == 0
    print(f"prompts: {n}")
    print(f"cold run (teacher calls):         {cold:8.2f} s")
    print(f"warm rerun (stage cache hit):     {warm_stage:8.3f} s   cold/warm = {cold / warm_stage:7.1f}x")
    print(f"rerun from the call cache only:   {warm_calls:8.3f} s   cold/warm = {cold / warm_calls:7.1f}x")
    print("(whole pipeline up to synthesize, in one process; model loading counts in the cold run only when "
          "the teacher is needed)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
