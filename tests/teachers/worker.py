"""Run one teacher in its own process (for the kill and two-process tests):

    python worker.py '<json: {"cfg": {...TeacherConfig fields}, "cache": path, "prompts": [[text, seed], ...],
                              "max_new_tokens": n, "out": path or null, "ready"/"go": optional barrier files}>'
"""
import json
import sys
import time
from pathlib import Path

from synthesizrr.core.config import TeacherConfig
from synthesizrr.teachers import Request, build_teacher

if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    teacher = build_teacher(TeacherConfig(**job["cfg"]), job["cache"])
    requests = [Request(text, job["max_new_tokens"], seed=seed) for text, seed in job["prompts"]]
    if job.get("ready"):               # start barrier: announce readiness, wait for the go file
        Path(job["ready"]).touch()
        while not Path(job["go"]).exists():
            time.sleep(0.01)
    out = teacher.generate(requests, progress=False)
    if job.get("out"):
        with open(job["out"], "w") as fh:
            json.dump({"texts": [c.text for c in out], "stats": teacher.stats}, fh)
    teacher.close()
