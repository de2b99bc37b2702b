"""Every config file composes and validates; bad values fail early with one line naming the key."""
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir

from synthesizrr.cli import _choices, _first_choice
from synthesizrr.compose import CONF_DIR, config_groups, load_config
from synthesizrr.core.config import ConfigError, validate

GROUP_OPTIONS = [(g, o) for g, opts in config_groups().items() if g != "experiment" for o in opts]
EXPERIMENTS = config_groups().get("experiment", [])
REQUIRED = {("teacher", "llamacpp"): ["teacher.model=/models/any.gguf"]}  # options whose value is `???`


def compose_cfg(overrides, hydra_cfg=False):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=hydra_cfg)


def test_every_group_is_present():
    for group in ("dataset", "corpus", "retriever", "teacher", "method", "filter", "student", "metrics",
                  "tracking", "experiment"):
        assert config_groups().get(group), f"conf/{group}/ has no option"


@pytest.mark.parametrize("group,option", GROUP_OPTIONS)
def test_each_option_composes_and_validates(group, option):
    cfg = validate(compose_cfg([f"{group}={option}", *REQUIRED.get((group, option), [])]))
    assert getattr(cfg, group) is not None


def test_missing_mandatory_value_is_named():
    with pytest.raises(ConfigError, match="teacher.model"):
        validate(compose_cfg(["teacher=llamacpp"]))


def sweep_points(experiment):
    """(key, value) for every value of every sweep the experiment file declares."""
    params = compose_cfg([f"experiment={experiment}"], hydra_cfg=True).hydra.sweeper.params or {}
    return [(key, choice.split("=", 1)[1]) for key, value in params.items()
            for choice in _choices(f"{key}={value}")]


SWEEP_POINTS = [(e, k, v) for e in EXPERIMENTS for k, v in sweep_points(e)] + [(e, None, None) for e in EXPERIMENTS]


@pytest.mark.parametrize("experiment,key,value", SWEEP_POINTS)
def test_every_sweep_value_of_every_experiment_composes_and_validates(experiment, key, value):
    cfg = load_config([f"experiment={experiment}", *([f"{key}={value}"] if key else [])])
    assert cfg.name == experiment


def test_paper_experiments_share_one_base_and_sweep_the_paper_rows():
    for e in (e for e in EXPERIMENTS if e.startswith("paper_")):
        assert dict(sweep_points(e)).keys() == {"method"}
        methods = [v for _, v in sweep_points(e)]
        assert {"gold", "fewgen_0shot", "fewgen", "synthesizrr_0shot", "synthesizrr", "synthesizrr_seedicl"} <= set(methods)
        assert "_paper" in (CONF_DIR / "experiment" / f"{e}.yaml").read_text()


@pytest.mark.parametrize("launcher", sorted(p.stem for p in (CONF_DIR / "hydra" / "launcher").glob("*.yaml")))
def test_launchers_compose(launcher):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    cfg = compose_cfg([f"hydra/launcher={launcher}"], hydra_cfg=True)
    assert cfg.hydra.launcher._target_


@pytest.mark.parametrize("override,pattern", [
    ("teacher.tempreature=0.5", "teacher.tempreature: Key 'tempreature' not in 'TeacherConfig'"),
    ("method.num_shots=abc", "method.num_shots"),
    ("method.num_shots=-1", r"method.num_shots=-1 is out of range"),
    ("teacher.top_p=1.5", r"teacher.top_p=1.5 is out of range: allowed \(0, 1\]"),
    ("teacher.top_p=0", r"teacher.top_p=0.0 is out of range"),
    ("retriever.icl_band=[0.9,0.5]", "retriever.icl_band"),
    ("teacher.backend=gpt", "teacher.backend='gpt' is not allowed"),
    ("stage=train", "stage='train' is not allowed"),
])
def test_bad_values_raise_one_line_naming_the_key(override, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        load_config([override])
    assert "\n" not in str(info.value)


def test_every_schema_field_is_overridable_without_plus():
    cfg = load_config(["dataset.max_test_examples=7", "metrics.oracle_max_train=9", "teacher.base_urls=[a,b]"])
    assert cfg.dataset.max_test_examples == 7 and cfg.metrics.oracle_max_train == 9
    assert cfg.teacher.base_urls == ["a", "b"]


def test_sweep_values_are_checked_by_their_first_choice():
    assert _first_choice("method.num_shots=0,1,3") == "method.num_shots=0"
    assert _first_choice("teacher.base_urls=[a,b]") == "teacher.base_urls=[a,b]"
    assert _first_choice("x='a,b',c") == "x='a,b'"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "synthesizrr.cli", *args], capture_output=True, text=True,
                          timeout=120, env={**__import__("os").environ, "WANDB_MODE": "disabled"})


@pytest.mark.parametrize("args,pattern", [
    (["teacher=nope"], "teacher=nope is not a known teacher: choose one of"),
    (["dataset=imagenet"], "dataset=imagenet is not a known dataset"),
    (["method.num_shots=-3"], "method.num_shots=-3 is out of range"),
    (["student.learning_rate=1"], "student.learning_rate: Key 'learning_rate' not in 'StudentConfig'"),
    (["-m", "method.num_shots=1,-2"], "method.num_shots=-2 is out of range"),
])
def test_cli_exits_2_with_one_line_and_no_traceback(args, pattern, tmp_path):
    proc = _cli(*args, f"store_dir={tmp_path}")
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert __import__("re").search(pattern, err), err
    assert not any(tmp_path.iterdir()), "no work may start before validation"
