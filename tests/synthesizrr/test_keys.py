"""Cache keys come from the fields each config section declares for a stage (no hand-picked lists): changing a
field changes exactly the keys of the stages that consume it."""
import dataclasses

import pytest

from synthesizrr.compose import load_config
from synthesizrr.core import config as C
from synthesizrr.core.keys import declared_stages
from synthesizrr.core.store import fingerprint
from synthesizrr.pipeline import Pipeline, stage_module
from synthesizrr.stages import ORDER


def keys(tmp_path, *overrides) -> dict:
    """Every stage's key for a config, with fixed input contents (as if every earlier stage had run)."""
    run = Pipeline(load_config(["experiment=smoke", f"store_dir={tmp_path}", *overrides]))
    run.content = {name: f"content-of-{name}" for name in ORDER}
    return {name: fingerprint(name, stage_module(name).VERSION, run.key_parts(name)) for name in ORDER}


def changed(tmp_path, base, *override) -> set:
    a, b = keys(tmp_path, *base), keys(tmp_path, *base, *override)
    return {name for name in ORDER if a[name] != b[name]}


@pytest.mark.parametrize("base,override,stages", [
    (["method=synthesizrr"], ["dataset.prompts.synthesizrr_instruction='Rewrite it as {label_description}.'"],
     {"synthesize"}),
    (["method=synthesizrr"], ["metrics.mauve_num_buckets=3"], {"evaluate"}),
    (["method=synthesizrr"], ["student.lr=1e-4"], {"distill", "oracle"}),
    (["method=synthesizrr"], ["retriever.model=offline:other"], {"index"}),
    (["method=synthesizrr"], ["retriever.top_k=20"], {"retrieve", "synthesize"}),
    (["method=synthesizrr"], ["teacher.temperature=0.5"], {"synthesize"}),
    (["method=synthesizrr"], ["teacher.concurrency=3", "teacher.failure_budget=5"], set()),
    (["method=synthesizrr"], ["tracking=none", "student.eval_batch_size=7"], set()),
    (["method=synthesizrr"], ["dataset.max_test_examples=30"], {"prepare"}),
    (["method=synthesizrr"], ["method.settings.icl_type=seed"], {"synthesize"}),
    (["method=gold"], ["teacher.temperature=0.5"], set()),                 # gold calls no teacher
    (["method=fewgen"], ["retriever.gen_band=[0.1,0.9]"], set()),          # fewgen retrieves nothing
    (["method=synthesizrr"], ["seed=7"], {"prepare", "retrieve", "synthesize", "filter", "evaluate", "oracle"}),
])
def test_a_field_changes_the_keys_of_the_stages_that_consume_it(tmp_path, base, override, stages):
    assert changed(tmp_path, base, *override) == stages


def test_an_input_whose_content_changed_changes_the_key(tmp_path):
    run = Pipeline(load_config(["experiment=smoke", f"store_dir={tmp_path}"]))
    run.content = {"prepare": "p", "synthesize": "s1"}
    first = fingerprint("filter", 1, run.key_parts("filter"))
    run.content["synthesize"] = "s2"
    assert fingerprint("filter", 1, run.key_parts("filter")) != first


def test_every_field_feeds_a_stage_or_is_ignored_on_purpose():
    """A field that feeds no key must be listed in its section's `ignore` (outputs cannot depend on it)."""
    def walk(cls, prefix=""):
        stages, own, ignore = getattr(cls, "__consumers__", ((), {}, ()))
        for f in dataclasses.fields(cls):
            yield f"{prefix}{f.name}", f.name in ignore or bool(own.get(f.name, stages))
    sections = {"dataset": C.DatasetConfig, "dataset.prompts": C.PromptConfig, "corpus": C.CorpusConfig,
                "retriever": C.RetrieverConfig, "teacher": C.TeacherConfig, "method": C.MethodConfig,
                "filter": C.FilterConfig, "student": C.StudentConfig, "metrics": C.MetricsConfig,
                "tracking": C.TrackingConfig}
    loose = [name for prefix, cls in sections.items() for name, ok in walk(cls, prefix + ".") if not ok]
    assert not loose, f"fields that feed no stage and are not ignored: {loose}"
    stages = declared_stages(load_config(["experiment=smoke"]))
    assert stages["dataset.prompts.answer_prefix"] == ("synthesize",)
    assert stages["student.lr"] == ("distill", "oracle")
    assert stages["metrics.mauve_num_buckets"] == ("evaluate",)
