"""Scale-out benchmark: one and three replicas behind nginx, one killed mid-load, for
modelbay and for MLflow in the same run.

Prints exactly one JSON line on stdout; progress goes to stderr.

Each configuration runs on a fresh database of one throwaway PostgreSQL cluster and a fresh
bucket of one SeaweedFS, behind nginx (tests/support/nginx.py). modelbay: client processes
(tests/scale/load_client.py) log and link small models, moving ``staging`` with each link,
and log metrics; an automation sends a webhook for every link to a local receiver. MLflow
(``mlflow server`` on PostgreSQL, artifacts proxied to the bucket): the same workload in its
terms (bench/_mlflow_load.py): log the model file as an artifact, register it as a model
version, set the ``staging`` alias; metrics with ``log_batch``. MLflow runs as it comes
(``--workers`` unset: 4 workers an instance) and with ``--workers 1``; modelbay is held to
the faster of the two, figure by figure (``vs_mlflow``, > 1 when modelbay does more).

The figures: links per second and metric values per second (work done over the wall time
of the clients doing it, their start included). With three replicas, one is SIGKILLed
(modelbay: once a third of the expected requests went through; MLflow: once a third of
the versions were asked for). Also reported: calls that failed as a client saw them (each
retried by the client), versions lost, duplicated or misnumbered, metric values lost,
deliveries lost and repeated (modelbay), and 5xx answers from the replicas that stayed up.

On this 2-core machine three replicas share the cores one replica has, so the figures
show that nothing is lost or slowed down by spreading the load, not a speed-up.

Usage::

    python bench/scale.py                 # 3 model clients x 40 links, 2 x 5,000 steps
    python bench/scale.py --quick         # 10 links, 1,000 steps a client
    python bench/scale.py --only mlflow --mlflow-workers 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Server, install_signal_handlers, load_average, log, running  # noqa: E402

MLFLOW_CLIENT = Path(__file__).resolve().parent / "_mlflow_load.py"


def run_config(
    n: int, args: argparse.Namespace, cluster: Any, s3: Any, tmp: Path
) -> dict[str, Any]:
    import httpx
    from support.receiver import Receiver
    from support.replicas import replicas

    from modelbay.automations.dispatcher import LEASE_SECONDS

    allow = {"MODELBAY_ALLOW_PRIVATE_DESTINATIONS": "1"}
    with Receiver() as receiver, replicas(cluster, s3, tmp / f"n{n}", n, allow) as r:
        admin = httpx.Client(
            base_url=r.url + "/api/v1", headers={"Authorization": f"Bearer {r.admin_key}"}
        )
        hook = {"name": "linked", "scope": "registry:model", "event": "version-linked"}
        hook |= {"action": "webhook", "url": receiver.url + "/hook"}
        admin.post("/automations", json=hook).raise_for_status()
        models = [tmp / f"n{n}-models-{i}.json" for i in range(args.model_clients)]
        metrics = [tmp / f"n{n}-metrics-{i}.json" for i in range(args.metric_clients)]
        started = time.perf_counter()
        procs = [r.load("models", args.links, 0, out) for out in models]
        procs += [r.load("metrics", args.steps, out) for out in metrics]
        killed: dict[str, Any] | None = None
        expected = args.model_clients * args.links * 4 + args.metric_clients * 8
        if n > 1:
            victim = r.servers[-1]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and len(r.balancer.access_log()) < expected // 3:
                time.sleep(0.1)
            killed = {
                "after_requests": len(r.balancer.access_log()),
                "at_s": round(time.perf_counter() - started, 2),
            }
            victim.kill()
            log(f"  killed replica {victim.port} after {killed['after_requests']} requests")
        ended: dict[int, float] = {}
        for proc in procs:
            output, _ = proc.communicate(timeout=1800)
            ended[proc.pid] = time.perf_counter()
            if proc.returncode != 0:
                raise SystemExit(f"client failed: {output[-2000:]}")
        model_wall = max(ended[p.pid] for p in procs[: len(models)]) - started
        metric_wall = max(ended[p.pid] for p in procs[len(models) :]) - started
        results = [json.loads(out.read_text()) for out in models]
        versions = admin.get(
            "/registries/model/collections/scale/versions", params={"limit": 10_000}
        ).json()["versions"]
        linked = args.model_clients * args.links
        indexes = sorted(v["link"]["index"] for v in versions)
        access = r.balancer.access_log()
        victim_addr = f"127.0.0.1:{r.servers[-1].port}" if n > 1 else None
        stored = 0
        for out in metrics:
            run = json.loads(out.read_text())["run"]
            history = admin.get(f"/projects/scale/runs/{run}/history").json()["history"]
            stored += sum(len(points) for points in history.values())
        try:
            received = receiver.wait_for(linked, timeout=LEASE_SECONDS + 30)
        except AssertionError:  # counted below as lost
            received = list(receiver.requests)
        delivered = {req.headers["webhook-id"] for req in received}
        return {
            "replicas": n,
            "links_per_s": round(linked / model_wall, 1),
            "metric_values_per_s": round(args.metric_clients * args.steps * 10 / metric_wall),
            "requests": len(access),
            "killed": killed,
            "client_failures": sum(len(res["errors"]) for res in results),
            "versions_lost": linked - len(set(v["id"] for v in versions)),
            "versions_duplicated": len(versions) - len(set(v["id"] for v in versions)),
            "versions_misnumbered": int(indexes != list(range(len(versions)))),
            "metric_values_lost": args.metric_clients * args.steps * 10 - stored,
            "deliveries_lost": linked - len(delivered),
            "deliveries_repeated": len(received) - len(delivered),
            "5xx_from_survivors": sum(
                1
                for e in access
                if e["status"].startswith("5")
                and (victim_addr is None or victim_addr not in e["upstream"])
            ),
            "5xx_in_flight_on_victim": sum(
                1
                for e in access
                if e["status"].startswith("5") and victim_addr and victim_addr in e["upstream"]
            ),
        }


def _wait_for_requests(balancer: Any, uri_part: str, count: int, timeout: float = 120) -> int:
    """Wait until the balancer logged ``count`` requests whose URI holds ``uri_part``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = sum(1 for e in balancer.access_log() if uri_part in e["uri"])
        if seen >= count:
            return seen
        time.sleep(0.1)
    return -1


def _mlflow_servers(
    n: int, workers: int | None, db_url: str, bucket: str, s3: Any, tmp: Path
) -> list[tuple[Server, str]]:
    """``n`` MLflow tracking servers on ``db_url``, artifacts proxied to ``bucket``."""
    from support.processes import free_port

    env = {
        "MLFLOW_S3_ENDPOINT_URL": s3.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_DEFAULT_REGION": s3.region,
    }
    servers = []
    for i in range(n):
        port = free_port()
        cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--backend-store-uri", db_url]
        cmd += ["--artifacts-destination", f"s3://{bucket}/mlflow"]
        if workers is not None:
            cmd += ["--workers", str(workers)]
        cwd = tmp / f"instance-{i}"
        cwd.mkdir(parents=True)
        health = f"http://127.0.0.1:{port}/health"
        servers.append((Server(f"mlflow-{i}", cmd, health, cwd, env), f"127.0.0.1:{port}"))
    return servers


def run_mlflow(
    n: int, workers: int | None, args: argparse.Namespace, cluster: Any, s3: Any, tmp: Path
) -> dict[str, Any]:
    """The workload of :func:`run_config` against ``n`` MLflow servers behind the same nginx.

    Each instance runs ``mlflow server`` on its own database of the same cluster (its tables
    made once beforehand, as the first server would), with artifacts proxied to a bucket of
    the same SeaweedFS. With three instances, one is SIGKILLed (its whole process group:
    the server and its workers) once a third of the versions were asked for.
    """
    import uuid

    from mlflow import MlflowClient
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from support.nginx import Nginx

    db_url = cluster.create_database("mlflow_" + uuid.uuid4().hex[:12], migrated=False)
    SqlAlchemyStore(db_url, "mlflow-artifacts:/").engine.dispose()  # tables, once
    bucket = s3.create_bucket("mlflow-" + uuid.uuid4().hex[:10])
    servers = _mlflow_servers(n, workers, db_url, bucket, s3, tmp)
    with contextlib.ExitStack() as stack:
        for server, _ in servers:
            stack.enter_context(running(server))
        balancer = Nginx([addr for _, addr in servers]).start()
        stack.callback(balancer.stop)
        client = MlflowClient(tracking_uri=balancer.url, registry_uri=balancer.url)
        experiment = client.create_experiment("scale")
        client.create_registered_model("scale")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env["MLFLOW_TRACKING_URI"] = balancer.url
        models = [tmp / f"models-{i}.json" for i in range(args.model_clients)]
        metrics = [tmp / f"metrics-{i}.json" for i in range(args.metric_clients)]
        started = time.perf_counter()
        procs = [
            subprocess.Popen(
                [sys.executable, str(MLFLOW_CLIENT), kind, str(count), experiment, str(out)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for kind, count, outs in (
                ("models", args.links, models),
                ("metrics", args.steps, metrics),
            )
            for out in outs
        ]
        linked = args.model_clients * args.links
        killed: dict[str, Any] | None = None
        victim_addr = None
        if n > 1:
            victim, victim_addr = servers[-1]
            seen = _wait_for_requests(balancer, "model-versions/create", linked // 3)
            killed = {
                "after_versions": seen,
                "after_requests": len(balancer.access_log()),
                "at_s": round(time.perf_counter() - started, 2),
            }
            assert victim.proc is not None
            os.killpg(victim.proc.pid, signal.SIGKILL)  # the server and its workers
            log(f"  killed {victim.name} after {killed['after_requests']} requests")
        ended: dict[int, float] = {}
        for proc in procs:
            output, _ = proc.communicate(timeout=1800)
            ended[proc.pid] = time.perf_counter()
            if proc.returncode != 0:
                raise SystemExit(f"mlflow client failed: {output[-2000:]}")
        model_wall = max(ended[p.pid] for p in procs[: len(models)]) - started
        metric_wall = max(ended[p.pid] for p in procs[len(models) :]) - started
        results = [json.loads(out.read_text()) for out in models]
        sources = [m["source"] for res in results for m in res["linked"]]
        versions = client.search_model_versions("name='scale'", max_results=10_000)
        found = [v.source for v in versions]
        numbers = sorted(int(v.version) for v in versions)
        stored: list[tuple[str, str, int]] = []
        for out in metrics:
            run = json.loads(out.read_text())["run"]
            for k in range(10):
                history = client.get_metric_history(run, f"m{k}")
                stored += [(run, m.key, m.step) for m in history]
        access = balancer.access_log()
        expected_values = args.metric_clients * args.steps * 10
        return {
            "replicas": n,
            "workers": workers if workers is not None else "default",
            "links_per_s": round(linked / model_wall, 1),
            "metric_values_per_s": round(expected_values / metric_wall),
            "requests": len(access),
            "killed": killed,
            "client_failures": sum(
                len(json.loads(out.read_text())["errors"]) for out in models + metrics
            ),
            "versions_lost": len(set(sources) - set(found)),
            "versions_duplicated": len(found) - len(set(found)),
            "versions_misnumbered": int(numbers != list(range(1, len(numbers) + 1))),
            "metric_values_lost": expected_values - len(set(stored)),
            "metric_values_repeated": len(stored) - len(set(stored)),
            "5xx_from_survivors": sum(
                1
                for e in access
                if e["status"].startswith("5")
                and (victim_addr is None or victim_addr not in e["upstream"])
            ),
            "5xx_in_flight_on_victim": sum(
                1
                for e in access
                if e["status"].startswith("5") and victim_addr and victim_addr in e["upstream"]
            ),
        }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--links", type=int, default=40, help="links per model client")
    p.add_argument("--model-clients", type=int, default=3)
    p.add_argument(
        "--steps", type=int, default=5000, help="steps (of 10 metrics) per metric client"
    )
    p.add_argument("--metric-clients", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="a smoke run: 10 links, 1,000 steps")
    p.add_argument("--only", choices=("modelbay", "mlflow"), help="run one side only")
    p.add_argument(
        "--mlflow-workers",
        default="default,1",
        help="MLflow server configurations: 'default' (as it comes) and/or worker counts",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.links, args.steps = 10, 1000

    from support.postgres import PostgresCluster, find_pg_bin
    from support.seaweed import SeaweedS3

    if find_pg_bin() is None:
        raise SystemExit("PostgreSQL binaries not found")
    install_signal_handlers()
    out: dict[str, Any] = {
        "bench": "scale",
        "load_avg_start": load_average(),
        "workload": vars(args),
    }
    configs = [w.strip() for w in args.mlflow_workers.split(",") if w.strip()]
    with tempfile.TemporaryDirectory() as tmp, PostgresCluster() as cluster, SeaweedS3() as s3:
        try:
            for n in (1, 3) if args.only != "mlflow" else ():
                log(f"modelbay, {n} replica(s)")
                out[f"replicas_{n}"] = run_config(n, args, cluster, s3, Path(tmp))
                log(f"  {json.dumps(out[f'replicas_{n}'])}")
            for config in configs if args.only != "modelbay" else ():
                workers = None if config == "default" else int(config)
                label = f"mlflow_{'default' if workers is None else f'workers{workers}'}"
                out[label] = {}
                for n in (1, 3):
                    log(f"{label}, {n} instance(s)")
                    work = Path(tmp) / f"{label}-{n}"
                    out[label][f"replicas_{n}"] = run_mlflow(n, workers, args, cluster, s3, work)
                    log(f"  {json.dumps(out[label][f'replicas_{n}'])}")
        finally:
            Server.stop_all()
    import mlflow

    out["mlflow_version"] = mlflow.__version__
    out |= ratios(out)
    out["load_avg_end"] = load_average()
    print(json.dumps(out))


def ratios(out: dict[str, Any]) -> dict[str, Any]:
    """Three replicas against one, and modelbay against the faster MLflow configuration
    for each figure and replica count (> 1: modelbay does more per second)."""
    result: dict[str, Any] = {}
    figures = ("links_per_s", "metric_values_per_s")
    if "replicas_1" in out and "replicas_3" in out:
        one, three = out["replicas_1"], out["replicas_3"]
        result["links_ratio_3_to_1"] = round(three["links_per_s"] / one["links_per_s"], 2)
        result["metric_values_ratio_3_to_1"] = round(
            three["metric_values_per_s"] / one["metric_values_per_s"], 2
        )
    versus: dict[str, Any] = {}
    for n in (1, 3):
        ours = out.get(f"replicas_{n}")
        theirs = {
            label: block[f"replicas_{n}"]
            for label, block in out.items()
            if label.startswith("mlflow_") and isinstance(block, dict)
            if f"replicas_{n}" in block
        }
        if ours is None or not theirs:
            continue
        for figure in figures:
            label = max(theirs, key=lambda k: theirs[k][figure])
            versus[f"{figure}_{n}"] = {
                "modelbay": ours[figure],
                "mlflow": theirs[label][figure],
                "mlflow_config": label,
                "ratio": round(ours[figure] / theirs[label][figure], 2),
            }
    if versus:
        result["vs_mlflow"] = versus
    return result


if __name__ == "__main__":
    main()
