"""boto3's own transfers of the artifact benchmark's workloads, the S3 block's reference.

The same 1 GiB file and the same many small files go to (and come back from) the same
SeaweedFS bucket as modelbay's S3 block, in the same run, each operation in a fresh client
process timed from the parent, with the page cache dropped first as for modelbay's cold
operations. boto3 is used as its documentation shows, with the default ``TransferConfig``:
``upload_file`` / ``download_file`` for the large file; for the many files, one
``TransferManager`` (what ``upload_file`` uses underneath) given every file, so that they go
``max_concurrency`` (10) at a time, and a listing of the prefix before the downloads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

PREFIX = "boto3-baseline"

_CLIENT = """
import boto3
from boto3.s3.transfer import TransferConfig, create_transfer_manager
_s3 = boto3.client("s3", endpoint_url=_os.environ["BENCH_S3_ENDPOINT"])
_bucket = _os.environ["BENCH_S3_BUCKET"]
_T1 = _time.perf_counter()
"""

STARTUP = (
    _CLIENT
    + """
_s3.list_buckets()
_T2 = _time.perf_counter()
_report(import_s=_T1 - _T0, call_s=_T2 - _T1, total_s=_T2 - _T0)
"""
)

UPLOAD_FILE = (
    _CLIENT
    + """
_s3.upload_file(@PATH@, _bucket, @KEY@, Config=TransferConfig())
_T2 = _time.perf_counter()
_report(import_s=_T1 - _T0, transfer_s=_T2 - _T1, total_s=_T2 - _T0)
"""
)

DOWNLOAD_FILE = (
    _CLIENT
    + """
_s3.download_file(_bucket, @KEY@, @DEST@, Config=TransferConfig())
_T2 = _time.perf_counter()
_report(import_s=_T1 - _T0, transfer_s=_T2 - _T1, total_s=_T2 - _T0)
"""
)

UPLOAD_DIR = (
    _CLIENT
    + """
_root = @PATH@
with create_transfer_manager(_s3, TransferConfig()) as _tm:
    _futures = []
    for _dir, _, _names in _os.walk(_root):
        for _name in _names:
            _path = _os.path.join(_dir, _name)
            _key = @KEY@ + "/" + _os.path.relpath(_path, _root)
            _futures.append(_tm.upload(_path, _bucket, _key))
    for _f in _futures:
        _f.result()
_T2 = _time.perf_counter()
_report(import_s=_T1 - _T0, transfer_s=_T2 - _T1, total_s=_T2 - _T0, files=len(_futures))
"""
)

DOWNLOAD_DIR = (
    _CLIENT
    + """
_dest = @DEST@
_keys = []
for _page in _s3.get_paginator("list_objects_v2").paginate(Bucket=_bucket, Prefix=@KEY@ + "/"):
    _keys.extend(_o["Key"] for _o in _page.get("Contents", []))
with create_transfer_manager(_s3, TransferConfig()) as _tm:
    _futures = []
    for _key in _keys:
        _path = _os.path.join(_dest, _key[len(@KEY@) + 1 :])
        _os.makedirs(_os.path.dirname(_path), exist_ok=True)
        _futures.append(_tm.download(_bucket, _key, _path))
    for _f in _futures:
        _f.result()
_T2 = _time.perf_counter()
_report(import_s=_T1 - _T0, transfer_s=_T2 - _T1, total_s=_T2 - _T0, files=len(_keys))
"""
)


def measure(
    run: Callable[[str, str], dict[str, Any]],
    fill: Callable[..., str],
    big: Path,
    files: Path,
    work: Path,
) -> dict[str, Any]:
    """boto3's cold upload and cold download of ``big`` and of the directory ``files``:
    ``{"big": {"upload_cold": result, "download_cold": result}, "files": {...}}``, where
    ``run(code, label)`` runs a client script (after the benchmark's prelude, with cold
    data and warm code) and returns its result."""
    out: dict[str, Any] = {}
    for workload, source, up, down in (
        ("big", big, UPLOAD_FILE, DOWNLOAD_FILE),
        ("files", files, UPLOAD_DIR, DOWNLOAD_DIR),
    ):
        key = repr(f"{PREFIX}/{workload}")
        dest = work / f"boto3-{workload}"
        if workload == "files":
            dest.mkdir(parents=True, exist_ok=True)
        out[workload] = {
            "upload_cold": run(fill(up, PATH=repr(str(source)), KEY=key), f"{workload} upload"),
            "download_cold": run(fill(down, DEST=repr(str(dest)), KEY=key), f"{workload} download"),
        }
    return out
