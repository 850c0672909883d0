"""One client process of the scale test (run as a script): talks to the balancer named by
MODELBAY_URL, and writes what it did as JSON to the path given.

``models N BIG_MIB OUT``: log and link N models into ``model-registry/scale``, moving
``staging`` with each (the first model BIG_MIB MiB, through presigned URLs), each call tried
again by this client when it fails; ``metrics N OUT``: one run logging N steps of 10 metrics.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import modelbay as wandb
from modelbay.errors import ModelbayError


def models(count: int, big_mib: int, out: Path) -> None:
    work = Path(tempfile.mkdtemp())
    errors: list[str] = []
    linked: list[str] = []
    run = wandb.init(project="scale", job_type="train")
    for i in range(count):
        path = work / f"model-{os.getpid()}-{i}.bin"
        path.write_bytes(os.urandom((big_mib << 20) if i == 0 and big_mib else 65536))
        for attempt in range(6):
            try:
                version = run.link_model(path, "scale", aliases=["staging"])
                linked.append(version.version)
                break
            except ModelbayError as exc:  # the calls in flight on a replica that died
                errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.5 * (attempt + 1))
        else:
            raise SystemExit(f"model {i} never linked: {errors[-3:]}")
    run.finish()
    out.write_text(json.dumps({"linked": linked, "errors": errors}))


def metrics(steps: int, out: Path) -> None:
    run = wandb.init(project="scale", job_type="metrics")
    for step in range(steps):
        run.log({f"m{k}": step * 0.001 + k for k in range(10)}, step=step)
    run.finish()
    out.write_text(json.dumps({"run": run.id, "steps": steps}))


if __name__ == "__main__":
    kind, *rest = sys.argv[1:]
    if kind == "models":
        models(int(rest[0]), int(rest[1]), Path(rest[2]))
    else:
        metrics(int(rest[0]), Path(rest[1]))
