"""The stand-in's `vllm.distributed`: model-parallel teardown that records itself."""
from . import parallel_state  # noqa: F401
