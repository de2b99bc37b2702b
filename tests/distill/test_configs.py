"""Every student and filter YAML composes with Hydra into the typed schema; reference settings are exact."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from synthesizrr.core.config import FilterConfig, StudentConfig

CONF = Path(__file__).resolve().parents[2] / "conf"


def _load(group: str, name: str, schema):
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        node = compose(config_name=f"{group}/{name}")[group]
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), node))


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "student").glob("*.yaml")))
def test_student_configs_validate(name):
    cfg = _load("student", name, StudentConfig)
    assert cfg.name == name and cfg.model


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "filter").glob("*.yaml")))
def test_filter_configs_validate(name):
    assert _load("filter", name, FilterConfig).name in ("none", "cartography")


def test_reference_student_settings():
    large = _load("student", "deberta_v3_large", StudentConfig)
    assert (large.model, large.lr, large.weight_decay, large.adam_eps) == \
        ("microsoft/deberta-v3-large", 2e-5, 1e-4, 1e-6)
    assert (large.batch_size * large.grad_accum, large.epochs, large.warmup_ratio) == (32, 6, 0.06)
    assert (large.max_length, large.seeds, large.dropout) == (512, [0, 1, 2, 3, 4], None)
    distil = _load("student", "distilbert_attrprompt", StudentConfig)
    assert (distil.model, distil.lr, distil.batch_size * distil.grad_accum, distil.epochs) == \
        ("distilbert-base-uncased", 2e-5, 32, 5)
    cart = _load("filter", "cartography", FilterConfig)
    assert (cart.model, cart.epochs, cart.keep_fraction) == ("distilbert-base-uncased", 6, 0.83)
