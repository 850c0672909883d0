"""Worker processes for the concurrency tests: ``python workers.py MODE ARGS_JSON``.

Each worker is a separate OS process that opens its own ``Services`` on the shared data
directory and database (the same SQLite file, or the same PostgreSQL database), does its
set-up, then waits at a file barrier so that the racing part of every worker starts at the
same moment. It prints one JSON line with what it saw; any exception exits non-zero with
the traceback on stderr.

``ARGS_JSON`` always holds ``data_dir``, ``db_url``, ``sync_dir`` (where barrier files go),
``worker`` (this worker's number) and ``parties`` (how many workers meet at a barrier).

This file imports only modelbay and the standard library, so that it runs outside pytest.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelbay.names import ArtifactRef
from modelbay.services import Principal, Services
from modelbay.settings import Settings

BARRIER_TIMEOUT = 120.0


def barrier(args: dict[str, Any], name: str) -> float:
    """Wait until every party has reached barrier ``name``; returns the time it opened."""
    sync_dir = Path(args["sync_dir"])
    (sync_dir / f"{name}.{args['worker']}").touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT
    while len(list(sync_dir.glob(f"{name}.*"))) < args["parties"]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"barrier {name!r}: not every worker arrived")
        time.sleep(0.002)
    return time.time()


def open_services(args: dict[str, Any]) -> tuple[Services, Principal]:
    services = Services.open(Settings(data_dir=Path(args["data_dir"]), db_url=args["db_url"]))
    return services, services.auth.local_principal(f"worker-{args['worker']}")


def stored_file(
    services: Services, principal: Principal, content: str, path: str = "model.bin"
) -> dict[str, Any]:
    """Store ``content`` as a blob (bytes in the shared store, row in the database);
    returns its manifest entry."""
    data = content.encode()
    digest = hashlib.sha256(data).hexdigest()
    services.blobs.put_stream(principal, digest, [data], len(data))
    return {"path": path, "sha256": digest, "size": len(data)}


def link_result(info: dict[str, Any], created: bool) -> dict[str, Any]:
    return {
        "source": info["ref"],
        "link_id": info["link"]["id"],
        "index": info["link"]["index"],
        "created": created,
    }


def open_fresh(args: dict[str, Any]) -> dict[str, Any]:
    """Open a database nobody has migrated yet, all workers at once."""
    barrier(args, "open")
    services, principal = open_services(args)
    try:
        return {"registries": [r["name"] for r in services.registry.list_registries(principal)]}
    finally:
        services.close()


def link_many(args: dict[str, Any]) -> dict[str, Any]:
    """Commit ``count`` versions of artifact ``w<worker>``, then link them all at once."""
    services, principal = open_services(args)
    try:
        name = f"w{args['worker']}"
        sources = []
        for k in range(args["count"]):
            entry = stored_file(services, principal, f"worker {args['worker']} version {k}")
            info, created = services.artifacts.commit_version(
                principal, args["project"], name, "model", [entry]
            )
            assert created, info
            sources.append(ArtifactRef(args["project"], name, info["version"]))
        started = barrier(args, "go")
        links = []
        for ref in sources:
            info, created = services.registry.link(
                principal, ref, args["registry"], args["collection"]
            )
            links.append(link_result(info, created))
        return {"started": started, "finished": time.time(), "links": links}
    finally:
        services.close()


def commit_same(args: dict[str, Any]) -> dict[str, Any]:
    """Commit ``count`` versions of one shared artifact, plus one content every worker
    commits (so that exactly one of them creates it), all workers at once."""
    services, principal = open_services(args)
    try:
        contents = [f"worker {args['worker']} content {k}" for k in range(args["count"])]
        contents.insert(len(contents) // 2, "the same bytes from every worker")
        entries = [(c, stored_file(services, principal, c)) for c in contents]
        started = barrier(args, "go")
        commits = []
        for content, entry in entries:
            info, created = services.artifacts.commit_version(
                principal, args["project"], args["artifact"], "model", [entry]
            )
            commits.append({"content": content, "index": info["index"], "created": created})
        return {"started": started, "finished": time.time(), "commits": commits}
    finally:
        services.close()


def link_same(args: dict[str, Any]) -> dict[str, Any]:
    """Link the same given versions into one new collection, all workers at once (each
    worker starts at a different version, so that every version is raced for)."""
    services, principal = open_services(args)
    try:
        selectors: list[str] = args["selectors"]
        shift = args["worker"] % len(selectors)
        order = selectors[shift:] + selectors[:shift]
        started = barrier(args, "go")
        links = []
        for selector in order:
            ref = ArtifactRef(args["project"], args["artifact"], selector)
            info, created = services.registry.link(
                principal, ref, args["registry"], args["collection"]
            )
            links.append(link_result(info, created))
        return {"started": started, "finished": time.time(), "links": links}
    finally:
        services.close()


def new_collections(args: dict[str, Any]) -> dict[str, Any]:
    """Round after round, link an own version into a collection nobody has made yet."""
    services, principal = open_services(args)
    try:
        name = f"own{args['worker']}"
        entry = stored_file(services, principal, f"worker {args['worker']} own version")
        info, _ = services.artifacts.commit_version(
            principal, args["project"], name, "model", [entry]
        )
        ref = ArtifactRef(args["project"], name, info["version"])
        links = []
        for r in range(args["rounds"]):
            collection = f"{args['prefix']}{r}"
            barrier(args, f"round{r}")
            info, created = services.registry.link(principal, ref, args["registry"], collection)
            links.append({"collection": collection, **link_result(info, created)})
        return {"links": links}
    finally:
        services.close()


MODES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "open_fresh": open_fresh,
    "link_many": link_many,
    "commit_same": commit_same,
    "link_same": link_same,
    "new_collections": new_collections,
}


def main(argv: list[str]) -> int:
    mode, raw = argv[1], argv[2]
    result = MODES[mode](json.loads(raw))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
