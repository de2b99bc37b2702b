"""The offline teacher (SmolLM2-135M on llama.cpp) per GGUF weight type (teacher.weights), side by side.

1. quickstart: the synthesize stages of the quickstart's FewGen and SynthesizRR rows with the old default (native
   Q4_1, one sequence at a time) and the current one (conf/teacher/smollm2_offline.yaml: f16, teacher.batch_size
   sequences decoded together), each from an empty call cache (upstream stages are shared); --quickstart-all adds
   each change alone, --quickstart-flash the current one with flash attention. The order of the variants is
   reversed every other repetition.
2. speeds: per weight type, on a FewGen 32-shot (~1,800 tokens) and a RetrICL 3-shot (~700 tokens) prompt from
   those runs: prompt evaluation tokens/s from an empty KV cache and decode tokens/s (one token per step);
   repetitions interleaved, median, ratios against native Q4_1. Also the one-off conversion time per type.
3. batch: decode tokens/s with 1-16 sequences per step, and per weight type the backend's probe: whether a
   sequence's logits stay bit-identical whatever decodes beside it, and whether they equal create_completion's
   (one row multiplied like several; where not, a lone sequence decodes beside a companion token).
4. samples: n samples of one prompt (ZeroGen-like), the prompt evaluated once vs once per sample (texts must match).
5. kv: KV prefix reuse (llama-cpp-python's default without reset()) vs a reset per call: how many texts change.

llama.cpp's extra weight buffers (AMX, repacking) are what the backend picks (off for quantized weights on AMX CPUs,
whose AMX kernels crash on the development machine) unless --extra-bufts on|off says otherwise.

    .venv/bin/python benchmarks/bench_teacher_weights.py [--reps 3] [--quickstart-reps 1] [--quickstart-all]
        [--quickstart-flash] [--store DIR] [--parts quickstart,speeds,batch,samples,kv] [--threads 2]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # as the framework sets it
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from synthesizrr.core.config import TeacherConfig
from synthesizrr.machine import cpu
from synthesizrr.teachers import Request, build_teacher
from synthesizrr.teachers import gguf_weights
from synthesizrr.teachers.cached import CachedTeacher

TYPES = ("native", "q4_0", "q8_0", "f16", "bf16")       # native = the packaged Q4_1
QUANTIZED = ("native", "q4_0", "q8_0")
CONF = Path(__file__).resolve().parents[1] / "conf" / "teacher" / "smollm2_offline.yaml"
OLD, NEW = "native", yaml.safe_load(CONF.read_text()).get("weights", "native")   # old and current default
# the console's stage line: "synthesize done in 41.3s" / "... in 7m 05s" (older: "stage synthesize: done in 41.3s")
STAGE_LINE = re.compile(r"synthesize:? +done in (?:(\d+)m )?([0-9.]+)s")


def cpu_model() -> str:
    name, flags = cpu()
    simd = [f for f in ("avx512f", "avx512_bf16", "amx_tile", "avx2") if f in flags][:3]
    return f"{name}, {', '.join(simd) or 'no AVX2'}"


def extra_bufts(weights: str, args) -> dict:
    """teacher.extra for --extra-bufts: empty (the backend decides) or the quantized types' setting."""
    if weights in QUANTIZED and args.extra_bufts != "auto":
        return {"use_extra_bufts": args.extra_bufts == "on"}
    return {}


def teacher_for(weights: str, args, **kw):
    cfg = TeacherConfig(name="bench", backend="llamacpp", model="offline:smollm2", n_threads=args.threads,
                        context_length=2048, weights=weights, extra=extra_bufts(weights, args), **kw)
    return build_teacher(cfg, None)


def overrides(weights: str, args) -> list[str]:
    extra = [f"++teacher.extra.{k}={str(v).lower()}" for k, v in extra_bufts(weights, args).items()]
    return [f"teacher.weights={weights}", f"teacher.n_threads={args.threads}", *extra]


def synthesize(store: Path, method: str, extra: list[str], stage: str = "synthesize") -> tuple[float, float]:
    """(stage seconds from the run's log, process wall seconds) of one CLI run up to `stage`."""
    cli = Path(sys.executable).with_name("synthesizrr")
    cmd = [str(cli), "experiment=quickstart", "hydra.mode=RUN", f"method={method}", f"stage={stage}",
           f"store_dir={store}", f"results_dir={store.parent / 'results'}", "tracking=none", *extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    found = STAGE_LINE.findall(proc.stdout + proc.stderr)
    return (60 * int(found[-1][0] or 0) + float(found[-1][1]) if found else float("nan")), wall


def fresh_synthesis(store: Path) -> None:
    """Forget synthesize outputs and every teacher call, keep the upstream stages."""
    for path in (store / "synthesize", store / ".partial" / "synthesize"):
        shutil.rmtree(path, ignore_errors=True)
    for path in store.glob("teacher_cache.sqlite*"):
        path.unlink()


def variants(args) -> dict[str, list[str]]:
    """The quickstart teacher settings compared: the old default first (Q4_1, one sequence at a time), the
    current one last; --quickstart-all adds each change alone."""
    one = ["teacher.batch_size=1"]
    out = {f"{OLD} one at a time (old)": overrides(OLD, args) + one}
    if args.quickstart_all:
        out[f"{NEW} one at a time"] = overrides(NEW, args) + one
        out[f"{OLD} batched"] = overrides(OLD, args)
    if args.quickstart_flash:
        out[f"{NEW} + flash attention"] = overrides(NEW, args) + ["++teacher.extra.llama_kwargs.flash_attn=true"]
    out[f"{NEW} batched (default)"] = overrides(NEW, args)
    return out


def quickstart(store: Path, args) -> dict[str, list[tuple[float, float]]]:
    """Per teacher variant, (synthesize stage seconds, process wall seconds) of FewGen + SynthesizRR per
    repetition, the variants' order reversed every other repetition."""
    print("quickstart: upstream stages (shared by every run) ...", flush=True)
    synthesize(store, "synthesizrr", overrides(NEW, args), stage="retrieve")
    settings = variants(args)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in settings}
    for rep in range(args.quickstart_reps):
        for name in (list(settings) if rep % 2 == 0 else list(settings)[::-1]):
            fresh_synthesis(store)
            runs = {m: synthesize(store, m, settings[name]) for m in ("fewgen", "synthesizrr")}
            total, wall = sum(stage for stage, _ in runs.values()), sum(w for _, w in runs.values())
            times[name].append((total, wall))
            print(f"  {name:28s} fewgen {runs['fewgen'][0]:6.1f} s + synthesizrr {runs['synthesizrr'][0]:6.1f} s "
                  f"= {total:6.1f} s (process wall {wall:6.1f} s)", flush=True)
    return times


def quickstart_prompts(store: Path) -> dict[str, list[str]]:
    out = {}
    for path in sorted(store.glob("synthesize/*/prompts.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        out["FewGen 32-shot" if rows[0]["prompt_id"].startswith("fewgen") else "RetrICL 3-shot"] = \
            [r["prompt"] for r in rows]
    return out


def conversion_times(args) -> None:
    source = teacher_for("native", args).backend.path
    with tempfile.TemporaryDirectory() as tmp:
        for weights in TYPES[1:]:
            start = time.perf_counter()
            gguf_weights.convert(source, Path(tmp) / f"{weights}.gguf", weights)
            size = (Path(tmp) / f"{weights}.gguf").stat().st_size
            print(f"  convert to {weights:5s} {time.perf_counter() - start:5.2f} s  {size / 2**20:6.1f} MiB")


def speeds(prompts: dict[str, str], args) -> None:
    """Median prompt-eval and decode tokens/s per weight type, repetitions interleaved."""
    teachers = {w: teacher_for(w, args) for w in TYPES}
    llms = {w: t.backend._load() for w, t in teachers.items()}
    ids = {name: teachers[NEW].backend.prompt_ids(Request(p, 64, seed=0)) for name, p in prompts.items()}
    evals = {(w, n): [] for w in TYPES for n in prompts}
    decodes = {(w, n): [] for w in TYPES for n in prompts}
    for rep in range(args.reps):
        for w in (TYPES if rep % 2 == 0 else TYPES[::-1]):
            llm = llms[w]
            for name, toks in ids.items():
                llm.reset()
                start = time.perf_counter()
                llm.eval(toks)
                evals[w, name].append(len(toks) / (time.perf_counter() - start))
                start = time.perf_counter()
                for _ in range(args.decode_tokens):
                    llm.eval([toks[-1]])
                decodes[w, name].append(args.decode_tokens / (time.perf_counter() - start))
        print(f"  repetition {rep + 1}/{args.reps} done", flush=True)
    for name, toks in ids.items():
        print(f"\n{name} prompt, {len(toks)} tokens (median of {args.reps}):")
        print("| weights | prompt eval tok/s | vs Q4_1 | prompt eval s | decode tok/s | vs Q4_1 |")
        print("|---|---:|---:|---:|---:|---:|")
        base_e, base_d = (statistics.median(evals[OLD, name]), statistics.median(decodes[OLD, name]))
        for w in TYPES:
            e, d = statistics.median(evals[w, name]), statistics.median(decodes[w, name])
            label = "native (Q4_1)" if w == "native" else w
            print(f"| {label} | {e:.0f} | {e / base_e:.2f}x | {len(toks) / e:.2f} | {d:.1f} | {d / base_d:.2f}x |")
    for t in teachers.values():
        t.close()


def batched_decode(prompts: dict[str, str], args) -> None:
    """Decode tokens/s with 1..16 sequences per llama.cpp step (each in its own KV stream, after a quickstart
    prompt), and per weight type what the backend's probe finds."""
    from synthesizrr.teachers.llamacpp_streams import Streams, probe
    sizes = (1, 2, 4, 8, 16)
    for w in TYPES:
        teacher = teacher_for(w, args)
        llm = teacher.backend._load()
        found = probe(llm)
        streams = Streams(llm, max(sizes), lone=found.as_alone)
        line = []
        for name, prompt in prompts.items():
            ids = teacher.backend.prompt_ids(Request(prompt, 64, seed=0))
            streams.prompt(0, ids)
            for slot in range(1, max(sizes)):
                streams.copy(0, slot)                     # the same prompt's KV, evaluated once
            rates = {}
            for k in sizes[::-1]:                          # a lone sequence's companion empties stream 1: last
                best = float("inf")
                for _ in range(args.reps):
                    for slot in range(k):
                        streams.low.llama_memory_seq_rm(streams.memory, slot, len(ids), -1)
                    start = time.perf_counter()
                    for step in range(args.decode_tokens // 4):
                        streams.decode_step([(ids[step], len(ids) + step, slot) for slot in range(k)])
                    best = min(best, (time.perf_counter() - start) / (args.decode_tokens // 4))
                rates[k] = k / best
            line.append(f"{name}: " + ", ".join(f"{k}: {rates[k]:.0f}" for k in sizes))
        print(f"  {w:6s} batches invariant {'yes' if found.invariant else 'no '}, = create_completion "
              f"{'yes' if found.as_alone else 'no '} | decode tok/s by sequences per step | " + " | ".join(line),
              flush=True)
        streams.close()
        teacher.close()


def n_samples(prompts: dict[str, str], args) -> None:
    """n samples of one prompt through the backend: grouped (prompt evaluated once) vs one call each."""
    teacher = teacher_for(NEW, args)
    backend = teacher.backend
    backend._load()
    for name, prompt in prompts.items():
        requests = [Request(prompt, 64, seed=100 + s, sample_index=s) for s in range(args.samples)]
        together, alone = [], []
        for rep in range(args.sample_reps):
            for how in (("together", "alone") if rep % 2 == 0 else ("alone", "together")):
                start = time.perf_counter()
                if how == "together":
                    fresh = CachedTeacher(teacher.cfg, backend, None)    # empty call cache
                    texts = [c.text for c in fresh.generate(requests, progress=False)]
                    together.append(time.perf_counter() - start)
                else:
                    texts_alone = [backend.generate_one(r).text for r in requests]
                    alone.append(time.perf_counter() - start)
        same = sum(a == b for a, b in zip(texts, texts_alone))
        t, a = min(together), min(alone)
        print(f"  {name}: {args.samples} samples x 64 tokens, prompt once {t:5.1f} s, once per sample {a:5.1f} s, "
              f"{a / t:.2f}x; identical texts {same}/{args.samples}")
    teacher.close()


def kv_prefix(prompts: dict[str, list[str]], args) -> None:
    """The quickstart prompts in order, two seeds each: llama-cpp-python's prefix reuse vs reset() per call."""
    teacher = teacher_for(NEW, args)
    backend = teacher.backend
    llm = backend._load()
    requests = [Request(p, 64, seed=7 + s) for ps in prompts.values() for p in ps[:args.kv_prompts] for s in (0, 1)]
    kw = dict(temperature=teacher.cfg.temperature, top_p=teacher.cfg.top_p, top_k=teacher.cfg.top_k, min_p=0.0,
              typical_p=1.0, repeat_penalty=1.0)
    reset = [backend._alone(backend.prompt_ids(r), r).text for r in requests]     # create_completion after reset()
    llm.reset()
    reuse, reused_tokens, total_tokens = [], 0, 0
    for r in requests:
        ids = backend.prompt_ids(r)
        before = list(llm._input_ids)
        common = next((i for i, (a, b) in enumerate(zip(before, ids)) if a != b), min(len(before), len(ids)))
        reused_tokens, total_tokens = reused_tokens + min(common, len(ids) - 1), total_tokens + len(ids)
        reuse.append(llm.create_completion(ids, max_tokens=r.max_new_tokens, seed=r.seed, **kw)["choices"][0]["text"])
    same = sum(a == b for a, b in zip(reset, reuse))
    again = sum(reset[i] == reuse[i] for i in range(1, len(requests), 2))
    print(f"  {len(requests)} calls ({NEW}): identical texts {same}/{len(requests)} (second call of a prompt: "
          f"{again}/{len(requests) // 2}); prefix reuse would skip {reused_tokens} of {total_tokens} prompt tokens")
    teacher.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quickstart-reps", type=int, default=1)
    ap.add_argument("--quickstart-all", action="store_true",
                    help="also time f16 one at a time and Q4_1 batched (each change alone)")
    ap.add_argument("--quickstart-flash", action="store_true",
                    help="also time the current default with flash attention (batched; other texts)")
    ap.add_argument("--parts", default="quickstart,speeds,batch,samples,kv",
                    help="comma-separated; without quickstart, --store must hold a quickstart's synthesize outputs")
    ap.add_argument("--store", type=Path, help="a scratch store kept between runs (upstream stages stay cached; "
                    "its synthesize outputs and teacher call cache are deleted)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--decode-tokens", type=int, default=32)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--sample-reps", type=int, default=2)
    ap.add_argument("--kv-prompts", type=int, default=6, help="prompts per method in the KV prefix check")
    ap.add_argument("--extra-bufts", choices=("auto", "on", "off"), default="auto",
                    help="llama.cpp's extra weight buffers (AMX, repacking) for the quantized types; auto: the "
                         "backend's choice (off on AMX CPUs)")
    args = ap.parse_args()
    tmp = None if args.store else Path(tempfile.mkdtemp(prefix="bench_weights_"))
    store = args.store or tmp / "store"
    parts = set(args.parts.split(","))
    print(f"CPU: {cpu_model()} (the fastest type, and whether f16 decodes the same in batches, depend on it)")
    print("one-off conversions (llama.cpp's quantizer, from the packaged Q4_1):")
    conversion_times(args)
    for weights in TYPES[1:]:                 # the runs below find them in the cache
        gguf_weights.converted(teacher_for("native", args).backend.path, weights)
    if "quickstart" in parts:
        times = quickstart(store, args)
        base = list(times)[0]
        for i, what in enumerate(("synthesize stages", "process wall")):
            print(f"quickstart {what} (FewGen + SynthesizRR, best of {args.quickstart_reps}):")
            old = min(t[i] for t in times[base])
            for name, runs in times.items():
                best = min(t[i] for t in runs)
                print(f"  {name:28s} {best:6.1f} s  {old / best:.2f}x", flush=True)
    prompts = quickstart_prompts(store)
    if not prompts:
        sys.exit(f"no prompts.jsonl under {store}/synthesize: run the quickstart part first")
    longest = {name: max(ps, key=len) for name, ps in prompts.items()}
    if "speeds" in parts:
        print(f"\nprompt evaluation and decoding per weight type ({args.threads} threads):")
        speeds(longest, args)
    if "batch" in parts:
        print(f"\nbatched decoding ({args.threads} threads; best of {args.reps}):")
        batched_decode(longest, args)
    if "samples" in parts:
        print(f"\nn samples of one prompt ({NEW}):")
        n_samples(longest, args)
    if "kv" in parts:
        print("\nKV prefix reuse between calls:")
        kv_prefix(prompts, args)
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
