"""Scale-out benchmark: one and three modelbay replicas behind nginx, one killed mid-load.

Prints exactly one JSON line on stdout; progress goes to stderr.

Each configuration runs on a fresh PostgreSQL database and SeaweedFS bucket, behind nginx
(tests/support/replicas.py). Client processes (tests/scale/load_client.py) log and link
small models, moving ``staging`` with each link, and log metrics, all through nginx. The
figures: links per second and metric values per second (work done over the wall time of
the clients doing it). With three replicas, one is SIGKILLed once a third of the expected
requests went through; then also: calls that failed as a client saw them (each retried by
the client), versions lost, duplicated or misnumbered, and 5xx answers from the replicas
that stayed up.

On this 2-core machine three replicas share the cores one replica has, so the figures
show that nothing is lost or slowed down by spreading the load, not a speed-up.

Usage::

    python bench/scale.py                 # 3 model clients x 40 links, 2 x 5,000 steps
    python bench/scale.py --links 10 --steps 1000   # a quick run
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import load_average, log  # noqa: E402


def run_config(
    n: int, args: argparse.Namespace, cluster: Any, s3: Any, tmp: Path
) -> dict[str, Any]:
    import httpx
    from support.replicas import replicas

    with replicas(cluster, s3, tmp / f"n{n}", n=n) as r:
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
        admin = httpx.Client(
            base_url=r.url + "/api/v1", headers={"Authorization": f"Bearer {r.admin_key}"}
        )
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
    args = p.parse_args(argv)

    from support.postgres import PostgresCluster, find_pg_bin
    from support.seaweed import SeaweedS3

    if find_pg_bin() is None:
        raise SystemExit("PostgreSQL binaries not found")
    out: dict[str, Any] = {
        "bench": "scale",
        "load_avg_start": load_average(),
        "workload": vars(args),
    }
    with tempfile.TemporaryDirectory() as tmp, PostgresCluster() as cluster, SeaweedS3() as s3:
        for n in (1, 3):
            log(f"{n} replica(s)")
            out[f"replicas_{n}"] = run_config(n, args, cluster, s3, Path(tmp))
            log(f"  {json.dumps(out[f'replicas_{n}'])}")
    one, three = out["replicas_1"], out["replicas_3"]
    out["links_ratio_3_to_1"] = round(three["links_per_s"] / one["links_per_s"], 2)
    out["metric_values_ratio_3_to_1"] = round(
        three["metric_values_per_s"] / one["metric_values_per_s"], 2
    )
    out["load_avg_end"] = load_average()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
