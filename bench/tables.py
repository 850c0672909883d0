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
2. ``first_page``: three 100,000-row tables logged (``big`` v0 and v1, whose ``pred``
   differs in every fifth row, and ``cold``), then ``modelbay server`` on that data
   directory: ``GET /api/v1/tables`` (the viewer's paging route) for the first page of 50
   rows of ``big:v0`` (the first request: the server reads the file, and caches it in the
   background; one other call is made before it, so that it does not also pay for the
   server's first database connection), the median of 5 more, one page sorted by
   ``score`` while the cache builds, then the very first request for ``cold`` being a
   sorted one (target under 200 ms each); and ``/compare/tables`` of ``big`` v0 beside v1
   joined on ``id`` (the first join, then its next page), both tables cached before.
3. ``artifact_get``: ``artifact.get`` of ``cold`` in a fresh embedded process: seconds and
   peak RSS growth, then under tracemalloc the peak of Python allocations and what the
   Table keeps (the W&B client reads a table back only from its server: not compared).

Usage::

    flock /tmp/bench.lock python bench/tables.py
"""

from __future__ import annotations

import json
import os
import re
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


PAGES_SEED = """
import sys, modelbay
rows = int(sys.argv[1])
labels = ['cat', 'dog', 'eel', 'fox']
def table(flip, shift):
    t = modelbay.Table(columns=['id', 'label', 'pred', 'score', 'text'])
    for i in range(rows):
        pred = labels[(i + 1) % 4] if flip and i % 5 == 0 else labels[i % 4]
        t.add_data(i, labels[i % 4], pred, ((i + shift) * 7919 % 1000) / 1000, f'sample {i}')
    return t
run = modelbay.init(project='pages')
for name, flip, shift in (('big', False, 0), ('big', True, 0), ('cold', False, 1)):
    a = modelbay.Artifact(name, 'dataset')
    a.add(table(flip, shift), 'preds')
    run.log_artifact(a)
run.finish()
"""


def first_page(root: Path) -> dict[str, Any]:
    """Three 100,000-row tables logged (``big`` v0 and v1, whose ``pred`` differs in every
    fifth row, and ``cold``), then ``modelbay server`` on that data directory: the first
    page of ``big:v0`` (cold, then warm), a first page sorted by a column of ``cold`` as
    the very first request for it, and ``/compare/tables`` of ``big`` v0 and v1 joined on
    ``id`` once both tables are cached (the first join, then its next page)."""
    data = root / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env["MODELBAY_DIR"] = str(data)
    subprocess.run(
        [sys.executable, "-c", PAGES_SEED, str(PAGE_ROWS)], env=env, check=True, timeout=1800
    )
    key = "mb-bench-" + os.urandom(8).hex()
    port = free_port()
    cwd = root / "server"
    cwd.mkdir()
    cmd = [sys.executable, "-m", "modelbay", "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--data-dir", str(data)]
    env["MODELBAY_ADMIN_KEY"] = key
    server = Server("modelbay", cmd, f"http://127.0.0.1:{port}/api/v1/health", cwd, env)
    params = {"ref": "pages/big:v0", "path": "preds.table.json", "limit": 50}
    out: dict[str, Any] = {"rows": PAGE_ROWS}
    with running(server), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
        api = {"Authorization": f"Bearer {key}"}

        def timed(path: str, query: dict[str, Any], headers: dict[str, str]) -> float:
            t0 = time.perf_counter()
            c.get(path, params=query, headers=headers).raise_for_status()
            return round((time.perf_counter() - t0) * 1000, 1)

        # One call that reads the database first: the cold figure is the table's own.
        c.get("/api/v1/projects/pages/artifacts/big/versions/v0", headers=api).raise_for_status()
        out["first_request_ms"] = timed("/api/v1/tables", params, api)
        warm = [timed("/api/v1/tables", params, api) for _ in range(5)]
        out["warm_median_ms"] = statistics.median(warm)
        sort = {"sort": "score", "descending": "true"}
        out["sorted_desc_ms"] = timed("/api/v1/tables", {**params, **sort}, api)
        # a filtered page waits for the table's cached file: then nothing else is building
        # while the first request for another table is a sorted one
        timed("/api/v1/tables", {**params, "filter": "id >= 0"}, api)
        cold = {**params, **sort, "ref": "pages/cold:v0"}
        out["sorted_first_request_ms"] = timed("/api/v1/tables", cold, api)
        for ref in ("pages/cold:v0", "pages/big:v1"):  # the join is timed on cached tables
            timed("/api/v1/tables", {**params, "ref": ref, "filter": "id >= 0"}, api)
        login = c.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', login)
        assert token is not None
        c.post("/login", data={"csrf_token": token.group(1), "key": key})
        compare = {"v": ["pages/big:v0", "pages/big:v1"], "table": "preds.table.json", "on": "id"}
        out["join_first_ms"] = timed("/compare/tables", compare, {})
        out["join_next_page_ms"] = timed("/compare/tables", {**compare, "page": 2}, {})
    out["target_ms"] = 200
    log(f"first page: {out}")
    return out


READ_BACK = """
import json, resource, sys, time, tracemalloc
import psutil, modelbay
art = modelbay.Api().artifact("pages/cold:v0")
art.files()  # the manifest read before the figure: the figure is the table's own
trace = sys.argv[1] == "trace"
if trace:
    tracemalloc.start()
before = psutil.Process().memory_info().rss
t0 = time.perf_counter()
table = art.get("preds")
seconds = time.perf_counter() - t0
out = {"rows": len(table.data), "seconds": round(seconds, 3)}
if trace:
    current, peak = tracemalloc.get_traced_memory()
    out.update(traced_peak_mib=round(peak / 2**20, 1), traced_kept_mib=round(current / 2**20, 1))
else:
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out.update(rss_growth_mib=round((peak_rss - before) / 2**20, 1))
print(json.dumps(out))
"""


def read_back(root: Path) -> dict[str, Any]:
    """``artifact.get`` of a 100,000-row table ``first_page`` logged, in a fresh embedded
    process: seconds and peak RSS growth (``ru_maxrss`` less the RSS before the call), then
    again under tracemalloc: the peak of Python allocations during the call and what the
    Table keeps after it (so the peak less the kept is what reading cost beyond the Table)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env["MODELBAY_DIR"] = str(root / "data")
    out: dict[str, Any] = {}
    for mode in ("rss", "trace"):
        cwd = root / f"get-{mode}"
        cwd.mkdir()
        done = subprocess.run(
            [sys.executable, "-c", READ_BACK, mode],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=1800,
        )
        got = json.loads(done.stdout.strip().splitlines()[-1])
        out.update({k: v for k, v in got.items() if mode == "rss" or k != "seconds"})
    out["traced_overhead_mib"] = round(out["traced_peak_mib"] - out["traced_kept_mib"], 1)
    log(f"artifact.get: {out}")
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
        result["artifact_get"] = read_back(pages)
    result["load_after"] = load_average()
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]))
    else:
        main()
