"""Metrics benchmark: logging overhead, ingest and history reads, beside W&B and MLflow.

Prints exactly one JSON line on stdout; progress goes to stderr. One run, one machine:

1. overhead   ``run.log`` with 10 scalars, microseconds per call, as the training loop
              sees it: the loop runs over several flush intervals, so the background
              sender's work (journal, fsync) competes for the GIL meanwhile. modelbay
              offline against the W&B client offline (``WANDB_MODE=offline``); modelbay
              over HTTP is shown too.
              Target: modelbay at most a tenth of W&B.
2. ingest     1,000,000 values (100,000 steps x 10 keys) from the first ``run.log`` call
              to ``finish()`` returning, when the server has committed every one (over
              HTTP, one server worker). MLflow: ``log_batch`` of 1,000 metrics per call
              (its maximum), sequentially, on fewer values (it is slow; the rate is what
              is compared). Target: modelbay at least 20x MLflow's values per second.
3. read       one 100,000-point series: modelbay downsampled to 1,000 points (min/max per
              bucket, over HTTP) against MLflow's ``get_metric_history`` of the whole
              series (MLflow cannot downsample). Target: at least 10x faster.

MLflow runs twice, as it comes and with ``--workers 1``; modelbay is held to the faster
of the two per metric. Each client workload runs in a fresh subprocess.

Usage::

    python bench/metrics.py            # full run (~5 minutes on 2 cores)
    python bench/metrics.py --quick    # smoke run (smaller counts)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    Server,
    compile_modelbay,
    free_port,
    install_signal_handlers,
    load_average,
    log,
    ratio,
    running,
)

KEYS = [f"m{i}" for i in range(10)]
TARGETS = {"overhead": 10.0, "ingest": 20.0, "read": 10.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="small counts for a smoke run")
    p.add_argument("--keep", action="store_true", help="keep the temp directory")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--key", help=argparse.SUPPRESS)
    p.add_argument("--run", help=argparse.SUPPRESS)
    p.add_argument("--reps", type=int, default=5, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes = {
            "mb_calls": 100_000,
            "mb_http_calls": 20_000,
            "wandb_calls": 2_000,
            "ingest_steps": 10_000,
            "mlflow_values": 5_000,
            "series": 100_000,
            "reps": 3,
        }
    else:
        args.sizes = {
            "mb_calls": 1_000_000,
            "mb_http_calls": 200_000,
            "wandb_calls": 20_000,
            "ingest_steps": 100_000,
            "mlflow_values": 50_000,
            "series": 100_000,
            "reps": 5,
        }
    return args


# --------------------------------------------------------------------------- workers
# Each runs in its own interpreter and prints one JSON object.


def _values(i: int) -> dict[str, float]:
    return {k: (i * 0.001 + j) for j, k in enumerate(KEYS)}


def worker_modelbay_log(n: int, mode: str) -> dict[str, Any]:
    import modelbay

    run = modelbay.init(project="bench-metrics", mode=mode)
    batches = [_values(i) for i in range(256)]
    for i in range(1000):  # warm up: imports, first flush
        run.log(batches[i % 256])
    t0 = time.perf_counter()
    for i in range(n):
        run.log(batches[i & 255])
    loop = time.perf_counter() - t0
    t1 = time.perf_counter()
    run.finish()
    end = time.perf_counter()
    return {
        "us_per_call": round(loop / n * 1e6, 2),
        "calls": n,
        "finish_s": round(end - t1, 3),
        "run": run.path,
        "total_s": round(end - t0, 3),
    }


def worker_wandb_log(n: int) -> dict[str, Any]:
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    import wandb

    run = wandb.init(project="bench-metrics", dir=os.getcwd())
    batches = [_values(i) for i in range(256)]
    for i in range(200):
        run.log(batches[i % 256])
    t0 = time.perf_counter()
    for i in range(n):
        run.log(batches[i & 255])
    loop = time.perf_counter() - t0
    t1 = time.perf_counter()
    run.finish()
    return {
        "us_per_call": round(loop / n * 1e6, 2),
        "calls": n,
        "finish_s": round(time.perf_counter() - t1, 3),
        "version": wandb.__version__,
    }


def worker_modelbay_ingest(steps: int) -> dict[str, Any]:
    import modelbay

    run = modelbay.init(project="bench-metrics")
    t0 = time.perf_counter()
    for i in range(steps):
        run.log({k: i * 0.001 + j for j, k in enumerate(KEYS)})
    loop = time.perf_counter() - t0
    run.finish()
    total = time.perf_counter() - t0
    stored = modelbay.Api().summaries([run.path])[0]
    count = len(modelbay.Api().run(run.path).series(["m0"])["m0"])
    values = steps * len(KEYS)
    return {
        "values": values,
        "seconds": round(total, 3),
        "values_per_s": round(values / total),
        "log_us_per_call": round(loop / steps * 1e6, 2),
        "run": run.path,
        "verified": stored["last_step"] == steps - 1 and count == steps,
    }


def worker_modelbay_read(run: str, reps: int) -> dict[str, Any]:
    import modelbay

    public = modelbay.Api().run(run)
    public.series(["m0"], max_points=1000)  # warm up the connection
    small = []
    for _ in range(reps):
        t0 = time.perf_counter()
        series = public.series(["m0"], max_points=1000)["m0"]
        small.append(time.perf_counter() - t0)
    full = []
    for _ in range(max(1, reps // 2)):
        t0 = time.perf_counter()
        whole = public.series(["m0"])["m0"]
        full.append(time.perf_counter() - t0)
    return {
        "downsampled_ms": round(statistics.median(small) * 1000, 1),
        "downsampled_runs_ms": [round(x * 1000, 1) for x in small],
        "points_returned": len(series),
        "full_ms": round(statistics.median(full) * 1000, 1),
        "series_points": len(whole),
    }


def worker_mlflow_ingest(url: str, values: int) -> dict[str, Any]:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    exp = client.create_experiment(f"ingest-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(exp).info.run_id
    per_batch = 1000 // len(KEYS)

    def batch(first: int) -> list[Any]:
        ts = int(time.time() * 1000)
        return [
            Metric(k, s * 0.001 + j, ts, s)
            for s in range(first, first + per_batch)
            for j, k in enumerate(KEYS)
        ]

    client.log_batch(run_id, metrics=batch(10**9))  # warm up (a far-off step)
    steps = values // len(KEYS)
    t0 = time.perf_counter()
    for first in range(0, steps, per_batch):
        client.log_batch(run_id, metrics=batch(first))
    total = time.perf_counter() - t0
    client.set_terminated(run_id)
    return {"values": values, "seconds": round(total, 3), "values_per_s": round(values / total, 1)}


def worker_mlflow_read(url: str, run_id: str, reps: int) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    times = []
    n = 0
    for _ in range(reps):
        t0 = time.perf_counter()
        n = len(client.get_metric_history(run_id, "series"))
        times.append(time.perf_counter() - t0)
    return {
        "full_ms": round(statistics.median(times) * 1000, 1),
        "full_runs_ms": [round(x * 1000, 1) for x in times],
        "series_points": n,
    }


def run_worker(args: argparse.Namespace) -> None:
    name = args.worker
    if name == "mb-offline":
        out = worker_modelbay_log(args.n, "offline")
    elif name == "mb-online":
        out = worker_modelbay_log(args.n, "online")
    elif name == "wandb":
        out = worker_wandb_log(args.n)
    elif name == "mb-ingest":
        out = worker_modelbay_ingest(args.n)
    elif name == "mb-read":
        out = worker_modelbay_read(args.run, args.reps)
    elif name == "mlflow-ingest":
        out = worker_mlflow_ingest(args.url, args.n)
    elif name == "mlflow-read":
        out = worker_mlflow_read(args.url, args.run, args.reps)
    else:
        raise SystemExit(f"unknown worker {name}")
    print(json.dumps(out), flush=True)


def spawn(worker: str, cwd: Path, env: dict[str, str] | None = None, **opts: Any) -> dict[str, Any]:
    """Run a worker in a fresh interpreter; its one JSON line is the result."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", worker]
    for k, v in opts.items():
        cmd += [f"--{k}", str(v)]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELBAY_", "WANDB_"))}
    full_env.update(env or {})
    done = subprocess.run(
        cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=1800, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker {worker} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    log(f"{worker}: {result}")
    return result


# --------------------------------------------------------------------------- servers


def modelbay_server(root: Path, key: str) -> Server:
    port = free_port()
    data = root / "modelbay-data"
    cwd = root / "modelbay-server"
    cwd.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "modelbay", "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--data-dir", str(data)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env["MODELBAY_ADMIN_KEY"] = key
    server = Server("modelbay", cmd, f"http://127.0.0.1:{port}/api/v1/health", cwd, env)
    server.env = env
    return server


def mlflow_server(root: Path, label: str, workers: int | None) -> Server:
    port = free_port()
    cwd = root / label
    cwd.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri"]
    cmd += [f"sqlite:///{cwd / 'mlflow.db'}", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--default-artifact-root", str(cwd / "artifacts")]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    return Server(label, cmd, f"http://127.0.0.1:{port}/health", cwd)


def mlflow_seed_series(url: str, db: Path, points: int) -> str:
    """A run with one ``series`` metric of ``points`` steps, inserted straight into MLflow's
    SQLite file (untimed setup: through ``log_batch`` it would take minutes)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    exp = client.create_experiment(f"read-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(exp).info.run_id
    ts = int(time.time() * 1000)
    with sqlite3.connect(db, timeout=60) as conn:
        conn.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "VALUES ('series', ?, ?, ?, ?, 0)",
            ((i * 0.001, ts + i, run_id, i) for i in range(points)),
        )
        conn.execute(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "VALUES ('series', ?, ?, ?, 0, ?)",
            ((points - 1) * 0.001, ts + points - 1, points - 1, run_id),
        )
    return run_id


# --------------------------------------------------------------------------- main


def bench_mlflow(
    root: Path, label: str, workers: int | None, sizes: dict[str, int]
) -> dict[str, Any]:
    server = mlflow_server(root, label, workers)
    out: dict[str, Any] = {"workers": workers if workers is not None else "default"}
    with running(server, timeout=180):
        url = server.health_url.rsplit("/", 1)[0]
        out["ingest"] = spawn("mlflow-ingest", root, url=url, n=sizes["mlflow_values"])
        run_id = mlflow_seed_series(url, server.cwd / "mlflow.db", sizes["series"])
        out["read"] = spawn(
            "mlflow-read", root, url=url, run=run_id, reps=max(1, sizes["reps"] // 2)
        )
    return out


def guarded(name: str, fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:
        log(f"{name} failed: {exc}")
        traceback.print_exc(file=sys.stderr)
        return {"error": f"{type(exc).__name__}: {exc}"[:2000]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    compile_modelbay()
    if args.worker:
        run_worker(args)
        return 0
    install_signal_handlers()
    sizes = args.sizes
    root = Path(tempfile.mkdtemp(prefix="modelbay-bench-metrics-"))
    out: dict[str, Any] = {
        "bench": "metrics",
        "quick": args.quick,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": load_average(),
        },
        "sizes": sizes,
    }
    try:
        # 1. run.log overhead, offline, in fresh interpreters.
        home = {"MODELBAY_DIR": str(root / "client-home")}
        overhead: dict[str, Any] = {}
        overhead["modelbay_offline"] = guarded(
            "mb-offline", lambda: spawn("mb-offline", root, home, n=sizes["mb_calls"])
        )
        if shutil.which("wandb") or _importable("wandb"):
            overhead["wandb_offline"] = guarded(
                "wandb", lambda: spawn("wandb", root, n=sizes["wandb_calls"])
            )
        else:
            overhead["wandb_offline"] = {"error": "wandb is not installed (pip install wandb)"}
        out["overhead"] = overhead

        # 2 and 3 against a modelbay server.
        key = uuid.uuid4().hex
        server = modelbay_server(root, key)
        with running(server):
            url = server.health_url.rsplit("/api/v1", 1)[0]
            env = {**home, "MODELBAY_URL": url, "MODELBAY_API_KEY": key}
            ingest = guarded(
                "mb-ingest", lambda: spawn("mb-ingest", root, env, n=sizes["ingest_steps"])
            )
            out["ingest"] = {"modelbay": ingest}
            series_run = ingest.get("run")
            if series_run and sizes["ingest_steps"] < sizes["series"]:
                # --quick: a 100,000-point series of its own for the read
                series_run = guarded(
                    "mb-ingest-series",
                    lambda: spawn("mb-ingest", root, env, n=sizes["series"]),
                ).get("run")
            out["read"] = {
                "modelbay": guarded(
                    "mb-read",
                    lambda: spawn("mb-read", root, env, run=series_run, reps=sizes["reps"]),
                )
                if series_run
                else {"error": "no series"}
            }
            # Last, so that the ingest above ran against an empty database.
            overhead["modelbay_http"] = guarded(
                "mb-online", lambda: spawn("mb-online", root, env, n=sizes["mb_http_calls"])
            )
        for label, workers in (("mlflow_default", None), ("mlflow_workers1", 1)):
            result = guarded(label, lambda: bench_mlflow(root, label, workers, sizes))  # noqa: B023
            out["ingest"][label] = result.get("ingest", result)
            out["read"][label] = result.get("read", result)
        compare(out)
    except KeyboardInterrupt:
        out["interrupted"] = True
    finally:
        Server.stop_all()
        out["machine"]["load_after"] = load_average()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            log(f"kept {root}")
    print(json.dumps(out, separators=(",", ":")), flush=True)
    return 0


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _get(d: dict[str, Any], *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)  # type: ignore[assignment]
    return d


def compare(out: dict[str, Any]) -> None:
    """Ratios against the targets (MLflow: the faster of its two configurations)."""
    results: dict[str, Any] = {}
    ours = _get(out, "overhead", "modelbay_offline", "us_per_call")
    theirs = _get(out, "overhead", "wandb_offline", "us_per_call")
    r = ratio(theirs, ours)
    results["overhead"] = {
        "modelbay_us": ours,
        "wandb_us": theirs,
        "wandb_over_modelbay": r,
        "target": f">= {TARGETS['overhead']}",
        "met": r is not None and r >= TARGETS["overhead"],
    }
    rates = [_get(out, "ingest", k, "values_per_s") for k in ("mlflow_default", "mlflow_workers1")]
    best = max((x for x in rates if x), default=None)
    ours = _get(out, "ingest", "modelbay", "values_per_s")
    r = ratio(ours, best) if ours and best else None
    results["ingest"] = {
        "modelbay_values_per_s": ours,
        "mlflow_best_values_per_s": best,
        "modelbay_over_mlflow": r,
        "target": f">= {TARGETS['ingest']}",
        "met": r is not None and r >= TARGETS["ingest"],
        "verified": _get(out, "ingest", "modelbay", "verified"),
    }
    reads = [_get(out, "read", k, "full_ms") for k in ("mlflow_default", "mlflow_workers1")]
    fastest = min((x for x in reads if x), default=None)
    ours = _get(out, "read", "modelbay", "downsampled_ms")
    r = ratio(fastest, ours)
    results["read"] = {
        "modelbay_downsampled_ms": ours,
        "mlflow_best_full_ms": fastest,
        "mlflow_over_modelbay": r,
        "target": f">= {TARGETS['read']}",
        "met": r is not None and r >= TARGETS["read"],
    }
    out["compare"] = results


if __name__ == "__main__":
    sys.exit(main())
