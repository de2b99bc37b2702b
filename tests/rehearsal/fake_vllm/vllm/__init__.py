"""A stand-in `vllm` for the rehearsal (vLLM needs a GPU): the real tokenizer of the model it is given (from the
stand-in hub), deterministic texts per request seed, and an event log (JSON lines in $FAKE_VLLM_EVENTS) of engine
start, generate calls, shutdown and model-parallel teardown, so a test can see when the engine was released."""
import json
import os
import random
import time

WORDS = ("markets rallied after the central bank held rates while exporters reported stronger orders and the "
         "league leaders won again as a striker scored twice and engineers unveiled a faster chip for phones").split()
_live = set()


def record(event: str, **info) -> None:
    with open(os.environ["FAKE_VLLM_EVENTS"], "a") as fh:
        fh.write(json.dumps({"event": event, "time": time.time(), "live_engines": len(_live), **info}) + "\n")


def live_engines() -> int:
    return len(_live)


class SamplingParams:
    def __init__(self, **kw):
        self.kw = kw


class _Out:
    def __init__(self, text, token_ids, finish_reason):
        self.text, self.token_ids, self.finish_reason = text, token_ids, finish_reason


class _Result:
    def __init__(self, prompt_token_ids, outputs):
        self.prompt_token_ids, self.outputs = prompt_token_ids, outputs


class LLM:
    def __init__(self, model, **kw):
        from transformers import AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(model)
        _live.add(id(self))
        record("engine_start", model=model, **{k: v for k, v in kw.items() if isinstance(v, (int, float, str))})

    def get_tokenizer(self):
        return self.tok

    def generate(self, prompts, params, use_tqdm=False):
        record("generate", n=len(prompts))
        out = []
        for prompt, sp in zip(prompts, params):
            rng = random.Random(sp.kw["seed"])
            text = " ".join(rng.choice(WORDS) for _ in range(min(12, sp.kw["max_tokens"]))).capitalize() + "."
            ids = self.tok(text, add_special_tokens=False)["input_ids"][:sp.kw["max_tokens"]]
            out.append(_Result(prompt["prompt_token_ids"], [_Out(text, ids, "stop")]))
        return out

    def shutdown(self):
        _live.discard(id(self))
        record("shutdown")
