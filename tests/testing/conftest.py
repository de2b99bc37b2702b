"""The stand-in hub, built once per builder version (under $SYNTHESIZRR_CACHE, default ~/.cache/synthesizrr)."""
import pytest


@pytest.fixture(scope="session")
def standin_hub():
    """A :class:`synthesizrr.testing.standin_hub.StandinHub`: ``hf_home``, ``pythonpath`` and ``env()`` (the
    variables that make it the hub for a subprocess, offline)."""
    from synthesizrr.testing.standin_hub import standin_hub as cached_build

    return cached_build()
