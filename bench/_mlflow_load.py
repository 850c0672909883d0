"""One MLflow client process of bench/scale.py (run as a script): the workload of
tests/scale/load_client.py in MLflow's terms, against the tracking server named by
MLFLOW_TRACKING_URI (the balancer in front of the MLflow instances).

``models N EXPERIMENT_ID OUT``: in one run, log N small model files as artifacts (proxied
by the server to the object store), register each as a version of the registered model
``scale`` and move its ``staging`` alias to it; ``metrics STEPS EXPERIMENT_ID OUT``: one
run logging STEPS steps of 10 metrics with ``log_batch``, 100 steps (MLflow's limit of
1,000 metrics) per request. Each call is tried again by this client when it fails, as
load_client.py does; what failed is written to OUT with what was done.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mlflow import MlflowClient
from mlflow.entities import Metric

T = TypeVar("T")
TRIES = 6
STEPS_PER_BATCH = 100  # 10 metrics a step: log_batch's limit of 1,000 metrics


def _retried(errors: list[str], call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    what = call.__name__
    for attempt in range(TRIES):
        try:
            return call(*args, **kwargs)
        except Exception as exc:  # MlflowException, requests' errors: all the client sees
            errors.append(f"{what}: {type(exc).__name__}: {str(exc)[:200]}")
            time.sleep(0.5 * (attempt + 1))
    raise SystemExit(f"{what} never succeeded: {errors[-3:]}")


def models(count: int, experiment_id: str, out: Path) -> None:
    client = MlflowClient()
    work = Path(tempfile.mkdtemp())
    errors: list[str] = []
    linked: list[dict[str, str]] = []
    run = _retried(errors, client.create_run, experiment_id)
    run_id = run.info.run_id
    for i in range(count):
        path = work / f"model-{os.getpid()}-{i}.bin"
        path.write_bytes(os.urandom(65536))
        folder = f"model-{i}"
        _retried(errors, client.log_artifact, run_id, str(path), folder)
        source = f"{run.info.artifact_uri}/{folder}"
        version = _retried(errors, client.create_model_version, "scale", source, run_id=run_id)
        _retried(errors, client.set_registered_model_alias, "scale", "staging", version.version)
        linked.append({"version": str(version.version), "source": source})
    _retried(errors, client.set_terminated, run_id)
    out.write_text(json.dumps({"linked": linked, "errors": errors}))


def metrics(steps: int, experiment_id: str, out: Path) -> None:
    client = MlflowClient()
    errors: list[str] = []
    run_id = _retried(errors, client.create_run, experiment_id).info.run_id
    batch: list[Metric] = []
    for step in range(steps):
        now = int(time.time() * 1000)
        batch += [Metric(f"m{k}", step * 0.001 + k, now, step) for k in range(10)]
        if len(batch) >= STEPS_PER_BATCH * 10 or step == steps - 1:
            _retried(errors, client.log_batch, run_id, metrics=batch)
            batch = []
    _retried(errors, client.set_terminated, run_id)
    out.write_text(json.dumps({"run": run_id, "steps": steps, "errors": errors}))


if __name__ == "__main__":
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    kind, count, experiment, path = sys.argv[1:]
    (models if kind == "models" else metrics)(int(count), experiment, Path(path))
