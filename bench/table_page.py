"""Time to the first page of a large table through the server's table endpoint (issue #18).

:func:`first_page` times ``GET /api/v1/tables`` on a server that holds the table: ``cold``
is the first call (the table file read, parsed and cached, then paged), ``warm`` the first
page asked for again (unsorted), ``sorted`` the first page sorted by a column, and
``filtered`` the first page of a filter, each over HTTP on loopback. ``bench/tables.py``
calls it with the table it logged; run alone, this script starts a server, commits a
W&B-format table of ``--rows`` rows (with image cells) and prints one JSON line::

    flock /tmp/bench.lock python bench/table_page.py --rows 100000
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from _common import Server, free_port, log, summary  # noqa: E402

TARGET_MS = 200.0


def first_page(
    url: str,
    api_key: str,
    ref: str,
    path: str,
    *,
    sort: str | None = None,
    filter: str | None = None,
    repeats: int = 20,
    limit: int = 50,
) -> dict[str, Any]:
    """Milliseconds to the first page of table ``path`` of version ``ref`` on the server at
    ``url`` (the first call, then ``repeats`` more of each kind); also the rows counted.

    Call it before anything else has asked for that table, for ``cold`` to mean a first
    parse (the cache is keyed by the file's sha256, so any earlier page warmed it).
    """
    headers = {"Authorization": f"Bearer {api_key}"}
    base = {"ref": ref, "path": path, "limit": limit}
    with httpx.Client(base_url=url.rstrip("/") + "/api/v1", headers=headers, timeout=600) as c:

        def call(params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
            t0 = time.perf_counter()
            resp = c.get("/tables", params={**base, **params})
            ms = (time.perf_counter() - t0) * 1000
            resp.raise_for_status()
            return ms, resp.json()

        cold_ms, page = call({})
        out: dict[str, Any] = {"rows": page["count"], "columns": len(page["columns"])}
        out["cold_ms"] = round(cold_ms, 3)
        kinds = {"warm": {}}
        if sort or page["columns"]:
            kinds["sorted"] = {"sort": sort or page["columns"][0], "descending": True}
        if filter:
            kinds["filtered"] = {"filter": filter}
        for name, params in kinds.items():
            out[name] = summary([call(params)[0] for _ in range(repeats)])
        out["target_ms"] = TARGET_MS
        out["warm_under_target"] = out["warm"]["p95"] < TARGET_MS
    return out


SEED = """
import json, pathlib, random, modelbay
rows = {rows}
folder = pathlib.Path("table")
(folder / "media" / "images").mkdir(parents=True)
png = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763"
    "f8cfc0000003010100c9fe92ef0000000049454e44ae426082")
images = []
for i in range(100):
    name = f"media/images/{{i}}.png"
    (folder / name).write_bytes(png + bytes([i]))  # distinct bytes after IEND: 100 images
    images.append(name)
rnd = random.Random(0)
labels = ["cat", "dog", "bird", "fish"]
data = [[i, {{"_type": "image-file", "path": images[i % 100], "format": "png", "width": 1,
              "height": 1}}, labels[i % 4], labels[rnd.randrange(4)], rnd.random()]
        for i in range(rows)]
(folder / "preds.table.json").write_text(json.dumps(
    {{"_type": "table", "columns": ["id", "image", "truth", "pred", "score"], "data": data}}))
run = modelbay.init(project="bench-tables")
art = modelbay.Artifact("preds", type="predictions")
art.add_file(str(folder / "preds.table.json"), name="preds.table.json")
for name in images:
    art.add_file(str(folder / name), name=name)
run.log_artifact(art)
run.finish()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tables-") as tmp:
        work = Path(tmp)
        key = "mb_bench_" + secrets.token_hex(16)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "modelbay", "server", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--data-dir", str(work / "data")]
        env = {"MODELBAY_ADMIN_KEY": key, "MODELBAY_DIR": str(work / "data")}
        with Server("modelbay", cmd, f"{url}/api/v1/health", work, env=env).start():
            client = work / "client"
            client.mkdir()
            log(f"committing a table of {args.rows} rows")
            subprocess.run(
                [sys.executable, "-c", textwrap.dedent(SEED.format(rows=args.rows))],
                cwd=client,
                env={
                    **_env(),
                    "MODELBAY_URL": url,
                    "MODELBAY_API_KEY": key,
                    "MODELBAY_DIR": str(client / "home"),
                },
                check=True,
            )
            size = (client / "table" / "preds.table.json").stat().st_size
            result = first_page(
                url,
                key,
                "bench-tables/preds:v0",
                "preds.table.json",
                sort="score",
                filter="truth = cat and score > 0.5",
                repeats=args.repeats,
            )
        print(json.dumps({"bench": "table_page", "table_bytes": size, **result}))


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}


if __name__ == "__main__":
    main()
