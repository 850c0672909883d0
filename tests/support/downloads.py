"""Helpers of the download tests (tests/cache): files stored on a server, and what a download
left behind."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from modelbay.sdk import transfer
from modelbay.sdk.streams import TEMP_NAME
from modelbay.sdk.transport import HttpTransport


def stored(transport: HttpTransport, named: dict[str, bytes]) -> list[dict[str, Any]]:
    """Upload ``{path: bytes}`` to the server (from ``$MODELBAY_TEST_SRC``); the manifest of
    those files."""
    files: list[dict[str, Any]] = []
    sizes: dict[str, int] = {}
    sources: dict[str, Path] = {}
    src = Path(os.environ["MODELBAY_TEST_SRC"])
    for path, data in named.items():
        digest = hashlib.sha256(data).hexdigest()
        source = src / digest
        source.write_bytes(data)
        sizes[digest], sources[digest] = len(data), source
        files.append({"path": path, "sha256": digest, "size": len(data)})
    transfer.upload(transport, sizes, sources, progress=False)
    return files


def partials(directory: Path) -> list[Path]:
    """The download temp files (``.<name>.<12 hex>.part``) anywhere under ``directory``."""
    return [p for p in directory.rglob("*") if p.is_file() and TEMP_NAME.fullmatch(p.name)]


def check_placed(root: Path, files: list[dict[str, Any]], *, all_there: bool = True) -> None:
    """Each file of the manifest under ``root`` has its bytes (or is absent, unless
    ``all_there``)."""
    for f in files:
        path = root / f["path"]
        if path.exists() or all_there:
            assert hashlib.sha256(path.read_bytes()).hexdigest() == f["sha256"], f["path"]
