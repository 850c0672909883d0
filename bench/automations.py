"""Automations benchmark: event-to-delivery latency of modelbay's webhooks against MLflow's.

Prints exactly one JSON line on stdout; progress goes to stderr.

Workload, the same for each system: one registered model (a collection) with ``--versions``
versions; a webhook that fires when an alias is set, pointing at a local HTTP receiver in
this process; then ``--rate`` alias moves per second for ``--seconds`` seconds, open loop
(each move is sent at its scheduled time, whatever the previous one took; a move that
could not be sent on time is sent at once and counted in ``late_moves``). Move ``i`` sets
the alias ``production`` on version ``i % versions + 1``; the receiver matches each
delivery to the oldest unmatched move of the same version (first in, first out).

Latency is the receiver's clock at arrival minus the client's clock just before the move's
request was sent (one machine, one clock), so it includes the move's own request. A move
with no delivery ``--drain`` seconds after the last move is lost. Duplicate deliveries (a
retry of one delivery id) are counted apart, not as latency samples.

MLflow (3.x; webhooks need its SQL store) runs as it comes, with ``--workers 1``, and as it
comes with ``MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY`` set (its several workers otherwise each
encrypt webhook secrets with a random key of their own, and cannot read each other's);
modelbay runs ``modelbay server`` over a fresh data directory, the automation created with
``POST /api/v1/automations``, signed with a ``whsec_`` secret.

Usage::

    flock /tmp/bench.lock python bench/automations.py              # 60 s per system
    flock /tmp/bench.lock python bench/automations.py --seconds 10 # while developing
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    Server,
    compile_modelbay,
    free_port,
    install_signal_handlers,
    load_average,
    log,
    running,
)

ALIAS = "production"
MLFLOW_SOURCE = "s3://modelbay-bench/models"
TARGETS = {"lost": 0, "p50_ms": 100.0, "p99_ms": 1000.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rate", type=float, default=50.0, help="alias moves per second")
    p.add_argument("--seconds", type=float, default=60.0, help="how long the moves go on")
    p.add_argument("--versions", type=int, default=50, help="versions the alias moves over")
    p.add_argument("--drain", type=float, default=20.0, help="seconds to wait for stragglers")
    p.add_argument("--only", choices=("all", "mlflow", "modelbay"), default="all")
    p.add_argument("--keep", action="store_true", help="keep the temp directory (server logs)")
    return p.parse_args(argv)


# --------------------------------------------------------------------------- receiver


class Receiver:
    """A local HTTP receiver: records (arrival time, body, headers) of every POST.

    ``version_of`` turns a delivery's JSON body into the version the alias moved to; the
    moves are matched to deliveries by that, first in, first out.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: list[tuple[float, bytes, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.time()
                with receiver.lock:
                    receiver.arrivals.append((now, body, dict(self.headers.items())))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.arrivals.clear()

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)


# --------------------------------------------------------------------------- workload


def drive(move: Callable[[int], None], args: argparse.Namespace) -> dict[str, Any]:
    """Send ``rate * seconds`` moves open loop; return the send times and lateness."""
    n = int(args.rate * args.seconds)
    interval = 1.0 / args.rate
    sent: list[float] = []
    late = 0
    errors: list[str] = []
    start = time.monotonic() + 0.2
    for i in range(n):
        due = start + i * interval
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        elif wait < -interval:
            late += 1
        sent.append(time.time())
        try:
            move(i)
        except Exception as e:  # noqa: BLE001 - a failed move is reported, not fatal
            if len(errors) < 5:
                errors.append(f"{type(e).__name__}: {e}"[:300])
            sent[-1] = float("nan")
    took = time.monotonic() - start
    return {
        "sent": sent,
        "late_moves": late,
        "move_errors": errors,
        "took_s": round(took, 1),
        # Below the asked rate when the server (or the machine) cannot keep up.
        "achieved_rate_per_s": round(n / took, 1) if took > 0 else None,
    }


def measure(
    receiver: Receiver,
    move: Callable[[int], None],
    version_of: Callable[[dict[str, Any]], int | None],
    args: argparse.Namespace,
    label: str,
) -> dict[str, Any]:
    """Run the moves, wait for deliveries, and match them; the latency figures."""
    receiver.reset()
    log(f"{label}: {args.rate:g} moves/s for {args.seconds:g}s")
    run = drive(move, args)
    sent: list[float] = run.pop("sent")
    expected = sum(1 for t in sent if t == t)
    deadline = time.monotonic() + args.drain
    while receiver.count() < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # duplicates and stragglers just behind the last one
    with receiver.lock:
        arrivals = list(receiver.arrivals)

    pending: dict[int, collections.deque[float]] = collections.defaultdict(collections.deque)
    for i, t in enumerate(sent):
        if t == t:
            pending[i % args.versions + 1].append(t)
    latencies: list[float] = []
    seen_ids: set[str] = set()
    duplicates = unmatched = 0
    for arrived, body, headers in sorted(arrivals, key=lambda a: a[0]):
        lower = {k.lower(): v for k, v in headers.items()}
        delivery = lower.get("webhook-id") or lower.get("x-mlflow-delivery-id")
        if delivery is not None:
            if delivery in seen_ids:
                duplicates += 1
                continue
            seen_ids.add(delivery)
        try:
            version = version_of(json.loads(body))
        except ValueError:
            version = None
        queue = pending.get(version) if version is not None else None
        if not queue:
            unmatched += 1
            continue
        latencies.append((arrived - queue.popleft()) * 1000.0)
    lost = sum(len(q) for q in pending.values())
    latencies.sort()
    out: dict[str, Any] = {
        "moves": expected,
        "delivered": len(latencies),
        "lost": lost,
        "duplicates": duplicates,
        "unmatched": unmatched,
        **run,
    }
    if latencies:
        out.update(
            p50_ms=round(_quantile(latencies, 0.50), 1),
            p90_ms=round(_quantile(latencies, 0.90), 1),
            p99_ms=round(_quantile(latencies, 0.99), 1),
            max_ms=round(latencies[-1], 1),
        )
    log(f"{label}: {json.dumps(out)}")
    return out


def _quantile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


# --------------------------------------------------------------------------- MLflow


def run_mlflow(
    label: str,
    workers: int | None,
    receiver: Receiver,
    args: argparse.Namespace,
    root: Path,
    shared_key: bool = False,
) -> dict[str, Any]:
    work = root / label
    work.mkdir()
    port = free_port()
    cmd = ["mlflow", "server", "--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}"]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    url = f"http://127.0.0.1:{port}"
    # As documented for local receivers: plain http and a loopback address allowed.
    env = {
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    }
    if shared_key:
        # Without it, each worker process encrypts webhook secrets with a key of its own, and
        # the others cannot read a webhook another worker stored (InvalidSignature).
        from cryptography.fernet import Fernet

        env["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    os.environ.update(env)
    result: dict[str, Any] = {"workers": workers if workers is not None else "default"}
    with running(Server(label, cmd, f"{url}/health", work, env=env)) as server:
        result["startup_s"] = round(server.startup_s or 0.0, 1)
        from mlflow import MlflowClient

        # create_model_version logs "Waiting up to 300 seconds..." at INFO on every call.
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        client = MlflowClient(tracking_uri=url, registry_uri=url)
        name = "bench-automations"
        client.create_registered_model(name)
        for i in range(args.versions):
            client.create_model_version(name, f"{MLFLOW_SOURCE}/{i}", run_id=None)
        client.create_webhook(
            name="bench",
            url=receiver.url,
            events=["model_version_alias.created"],
            secret=f"whsec_{uuid.uuid4().hex}",
        )
        api = httpx.Client(base_url=f"{url}/api/2.0/mlflow", timeout=30.0)
        try:

            def move(i: int) -> None:
                r = api.post(
                    "/registered-models/alias",
                    json={"name": name, "alias": ALIAS, "version": str(i % args.versions + 1)},
                )
                r.raise_for_status()

            move(0)  # warm the server's webhook cache; its delivery is not counted
            time.sleep(1.0)
            result.update(measure(receiver, move, _mlflow_version, args, label))
        finally:
            api.close()
        if "InvalidSignature" in server.log_path.read_text(errors="replace"):
            result["notes"] = [
                "deliveries failed in the server: a worker could not decrypt a webhook secret "
                "that another worker stored (MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY unset: a "
                "random key per process)"
            ]
    return result


def _mlflow_version(body: dict[str, Any]) -> int | None:
    data = body.get("data") or {}
    version = data.get("version")
    return int(version) if version is not None else None


# --------------------------------------------------------------------------- modelbay


def run_modelbay(receiver: Receiver, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    work = root / "modelbay"
    work.mkdir()
    data = work / "data"
    port = free_port()
    key = f"bench-{uuid.uuid4().hex}"
    cmd = ["modelbay", "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--data-dir", str(data), "--allow-private-destinations"]
    url = f"http://127.0.0.1:{port}"
    env = {"MODELBAY_ADMIN_KEY": key, "MODELBAY_DIR": str(data)}
    result: dict[str, Any] = {"workers": "default (1)"}
    with running(Server("modelbay", cmd, f"{url}/api/v1/health", work, env=env)) as server:
        result["startup_s"] = round(server.startup_s or 0.0, 1)
        api = httpx.Client(
            base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30.0
        )
        try:
            collection = "bench-automations"
            links = _modelbay_versions(api, collection, args.versions)
            made = api.post(
                "/automations",
                json={
                    "name": "bench",
                    "scope": f"collection:model/{collection}",
                    "event": "alias-added",
                    "alias_regex": ALIAS,
                    "action": "webhook",
                    "url": receiver.url,
                    "signing_secret": "whsec_" + base64.b64encode(os.urandom(24)).decode(),
                },
            )
            made.raise_for_status()

            def move(i: int) -> None:
                r = api.put(
                    f"/registries/model/collections/{collection}/aliases/{ALIAS}",
                    json={"version": links[i % args.versions]},
                )
                r.raise_for_status()

            result.update(measure(receiver, move, _modelbay_version, args, "modelbay"))
        finally:
            api.close()
    return result


def _modelbay_versions(api: httpx.Client, collection: str, count: int) -> list[str]:
    """Commit and link ``count`` versions (untimed setup); their collection versions."""
    import hashlib

    links = []
    for i in range(count):
        blob = f"modelbay-bench automations {i} {uuid.uuid4().hex}\n".encode()
        sha = hashlib.sha256(blob).hexdigest()
        api.put(
            f"/blobs/{sha}", content=blob, headers={"Content-Type": "application/octet-stream"}
        ).raise_for_status()
        r = api.post(
            "/projects/bench/artifacts/model/versions",
            json={"type": "model", "files": [{"path": "m.bin", "sha256": sha, "size": len(blob)}]},
        )
        r.raise_for_status()
        r = api.post(
            f"/registries/model/collections/{collection}/versions",
            json={"artifact": f"bench/model:{r.json()['version']}", "aliases": []},
        )
        r.raise_for_status()
        links.append(r.json()["link"]["version"])
    if links != [f"v{i}" for i in range(count)]:
        raise RuntimeError(f"unexpected collection versions {links[:5]}...")
    return links


def _modelbay_version(body: dict[str, Any]) -> int | None:
    """The collection version in modelbay's default body (``data.version.link.version``,
    ``vN`` counted from 0); the moves count from 1, as MLflow's versions do."""
    version = (body.get("data") or {}).get("version") or {}
    selector = (version.get("link") or {}).get("version") if isinstance(version, dict) else None
    if not isinstance(selector, str) or not selector.startswith("v"):
        return None
    return int(selector[1:]) + 1


# --------------------------------------------------------------------------- main


def _guarded(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return fn()
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - reported in the JSON, traceback on stderr
        traceback.print_exc(file=sys.stderr)
        log(f"{name} failed: {e}")
        return {"error": f"{type(e).__name__}: {e}"[:2000]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    compile_modelbay()
    install_signal_handlers()
    t_start = time.perf_counter()
    out: dict[str, Any] = {
        "bench": "automations",
        "rate_per_s": args.rate,
        "seconds": args.seconds,
        "versions": args.versions,
        "latency": "receiver arrival minus the move request's send time (same clock)",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_avg_start": load_average(),
    }
    root = Path(tempfile.mkdtemp(prefix="modelbay-bench-automations-"))
    log(f"work dir {root}")
    try:
        with Receiver() as receiver:
            if args.only in ("all", "modelbay"):
                out["modelbay"] = _guarded("modelbay", lambda: run_modelbay(receiver, args, root))
            if args.only in ("all", "mlflow"):
                import mlflow

                out["mlflow_version"] = mlflow.__version__
                runs = (
                    ("mlflow_default", None, False),
                    ("mlflow_workers1", 1, False),
                    ("mlflow_default_shared_key", None, True),
                )
                for label, workers, key in runs:
                    out[label] = _guarded(
                        label,
                        lambda label=label, workers=workers, key=key: run_mlflow(  # type: ignore[misc]
                            label, workers, receiver, args, root, key
                        ),
                    )
    finally:
        Server.stop_all()
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    _compare(out)
    out["load_avg_end"] = load_average()
    out["elapsed_s"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(out, separators=(",", ":")), flush=True)
    return 0


def _compare(out: dict[str, Any]) -> None:
    """modelbay against the targets and against the faster MLflow's p50."""
    ours = out.get("modelbay", {})
    mlflow_p50 = [v["p50_ms"] for k, v in out.items() if k.startswith("mlflow_") and "p50_ms" in v]
    out["mlflow_best_p50_ms"] = min(mlflow_p50) if mlflow_p50 else None
    if "p50_ms" not in ours:
        out["meets_targets"] = None
        return
    checks = {
        "lost": ours["lost"] <= TARGETS["lost"],
        "p50_ms": ours["p50_ms"] < TARGETS["p50_ms"],
        "p99_ms": ours["p99_ms"] < TARGETS["p99_ms"],
    }
    if mlflow_p50:
        checks["p50_vs_mlflow"] = ours["p50_ms"] <= min(mlflow_p50)
    out["targets"] = TARGETS
    out["meets_targets"] = checks


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; servers stopped")
        sys.exit(130)
