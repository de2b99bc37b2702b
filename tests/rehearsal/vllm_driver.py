"""`synthesizrr` with the stand-in vllm, recording how many engines are alive when the filter stage starts
(run as a script by test_vllm_rehearsal.py, with fake_vllm/ on PYTHONPATH)."""
import vllm

from synthesizrr.cli import main
from synthesizrr.stages import filter as filter_stage

_compute = filter_stage.compute


def compute(run, out, work):
    vllm.record("filter_start")
    return _compute(run, out, work)


filter_stage.compute = compute

if __name__ == "__main__":
    main()
