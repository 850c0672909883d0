"""Tables benchmark: logging a table with images, modelbay beside the W&B client, and the
server's time to the first page of a large table. One JSON line on stdout.

1. ``log``: a 10,000-row table (``id``, ``image``, ``label``, ``score``) whose image column
   holds 1,000 distinct 64x64 RGB images (row ``i`` holds image ``i % 1000``), built and
   logged with ``run.log({"preds": table})`` in a fresh process, timed from the first
   Image made to the end of ``finish()``; modelbay embedded, W&B with
   ``WANDB_MODE=offline`` (its artifact staging and cache directories under the same
   temporary root). ``bytes`` is what the client left on disk for it (modelbay: its data
   directory; W&B: its run directory, staging and cache). Each client runs 3 times,
   alternating, and the medians are reported with the times of every run.
2. ``first_page``: a 100,000-row table logged into an artifact, then ``modelbay server`` on
   that data directory, and ``GET /api/v1/tables`` (the viewer's paging route) for its first
   page of 50 rows: the first request (the server reads and indexes the file; one other
   call is made before it, so that it does not also pay for the server's first database
   connection), the median of 5 more (the target is under 200 ms), and one sorted page.

Usage::

    flock /tmp/bench.lock python bench/tables.py
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _common import Server, free_port, install_signal_handlers, load_average, log, running

ROWS, IMAGES, SIDE = 10_000, 1_000, 64
PAGE_ROWS = 100_000
#: Runs of each client; the medians are reported (one run on 2 shared cores is noisy).
REPS = 3
LABELS = ("cat", "dog", "eel", "fox")


def du(*paths: Path) -> int:
    total = 0
    for root in paths:
        for dirpath, _, files in os.walk(root):
            for name in files:
                p = os.path.join(dirpath, name)
                if not os.path.islink(p):
                    total += os.stat(p).st_size
    return total


def child(client: str, root: Path) -> None:
    """Build and log the table with ``client``; print the seconds it took."""
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 255, (SIDE, SIDE, 3), dtype=np.uint8) for _ in range(IMAGES)]
    if client == "modelbay":
        import modelbay as sdk
    else:
        import wandb as sdk  # type: ignore[no-redef]
    run = sdk.init(project="tables-bench")
    t0 = time.perf_counter()
    images = [sdk.Image(a) for a in arrays]
    table = sdk.Table(columns=["id", "image", "label", "score"])
    for i in range(ROWS):
        table.add_data(i, images[i % IMAGES], LABELS[i % 4], (i % 97) / 97)
    t1 = time.perf_counter()
    run.log({"preds": table})
    run.finish()
    t2 = time.perf_counter()
    print(json.dumps({"seconds": t2 - t0, "build_s": t1 - t0, "log_s": t2 - t1}))


def log_with(client: str, root: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELBAY_", "WANDB_"))}
    if client == "modelbay":
        dirs = [root / "data"]
        env["MODELBAY_DIR"] = str(dirs[0])
    else:
        dirs = [root / n for n in ("wandb", "data", "cache", "artifacts", "config")]
        env.update(
            WANDB_MODE="offline",
            WANDB_SILENT="true",
            WANDB_DIR=str(dirs[0]),
            WANDB_DATA_DIR=str(dirs[1]),
            WANDB_CACHE_DIR=str(dirs[2]),
            WANDB_ARTIFACT_DIR=str(dirs[3]),
            WANDB_CONFIG_DIR=str(dirs[4]),
        )
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", client, str(root)],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{client} child failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    out = {k: round(v, 3) for k, v in result.items()}
    out["process_s"] = round(wall, 3)
    out["bytes"] = du(*dirs)
    log(f"{client}: {out}")
    return out


def first_page(root: Path) -> dict[str, Any]:
    data = root / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env["MODELBAY_DIR"] = str(data)
    script = (
        "import modelbay\n"
        "t = modelbay.Table(columns=['id', 'label', 'score', 'text'])\n"
        f"for i in range({PAGE_ROWS}):\n"
        "    t.add_data(i, ['cat', 'dog', 'eel', 'fox'][i % 4], (i * 7919 % 1000) / 1000,"
        " f'sample {i}')\n"
        "run = modelbay.init(project='pages')\n"
        "a = modelbay.Artifact('big', 'dataset')\n"
        "a.add(t, 'preds')\n"
        "run.log_artifact(a)\n"
        "run.finish()\n"
    )
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=1800)
    key = "mb-bench-" + os.urandom(8).hex()
    port = free_port()
    cwd = root / "server"
    cwd.mkdir()
    cmd = [sys.executable, "-m", "modelbay", "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--data-dir", str(data)]
    env["MODELBAY_ADMIN_KEY"] = key
    server = Server("modelbay", cmd, f"http://127.0.0.1:{port}/api/v1/health", cwd, env)
    params = {"ref": "pages/big:v0", "path": "preds.table.json", "limit": 50}
    with (
        running(server),
        httpx.Client(
            base_url=f"http://127.0.0.1:{port}/api/v1",
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        ) as client,
    ):
        # One call that reads the database first: the cold figure is the table's own.
        client.get("/projects/pages/artifacts/big/versions/v0").raise_for_status()
        t0 = time.perf_counter()
        first = client.get("/tables", params=params)
        cold = time.perf_counter() - t0
        first.raise_for_status()
        body = first.json()
        assert body["count"] == PAGE_ROWS and len(body["rows"]) == 50, body.get("count")
        warm = []
        for _ in range(5):
            t0 = time.perf_counter()
            client.get("/tables", params=params).raise_for_status()
            warm.append(time.perf_counter() - t0)
        sorted_first = {**params, "sort": "score", "descending": "true"}
        t0 = time.perf_counter()
        client.get("/tables", params=sorted_first).raise_for_status()
        sorted_s = time.perf_counter() - t0
    out = {
        "rows": PAGE_ROWS,
        "file_bytes": du(data / "blobs") if (data / "blobs").exists() else None,
        "first_request_ms": round(cold * 1000, 1),
        "warm_median_ms": round(statistics.median(warm) * 1000, 1),
        "sorted_desc_ms": round(sorted_s * 1000, 1),
        "target_ms": 200,
    }
    log(f"first page: {out}")
    return out


def main() -> None:
    install_signal_handlers()
    result: dict[str, Any] = {
        "bench": "tables",
        "workload": {"rows": ROWS, "images": IMAGES, "image_side": SIDE},
        "load_before": load_average(),
    }
    with tempfile.TemporaryDirectory(prefix="mb-bench-tables-") as tmp:
        base = Path(tmp)
        samples: dict[str, list[dict[str, Any]]] = {"modelbay": [], "wandb": []}
        for rep in range(REPS):  # alternated, so that a busy moment hits both alike
            for client in samples:
                root = base / f"{client}-{rep}"
                root.mkdir()
                samples[client].append(log_with(client, root))
                shutil.rmtree(root, ignore_errors=True)
        for client, runs in samples.items():
            result[client] = {k: statistics.median(r[k] for r in runs) for k in runs[0]} | {
                "seconds_samples": [r["seconds"] for r in runs]
            }
        mb, wb = result["modelbay"], result["wandb"]
        result["time_ratio_wandb_over_modelbay"] = round(wb["seconds"] / mb["seconds"], 2)
        result["bytes_ratio_wandb_over_modelbay"] = round(wb["bytes"] / mb["bytes"], 2)
        pages = base / "pages"
        pages.mkdir()
        result["first_page"] = first_page(pages)
    result["load_after"] = load_average()
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]))
    else:
        main()
