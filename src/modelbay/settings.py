"""Typed settings, read once from the environment and passed explicitly from there on."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

#: Standard Webhooks' schedule: the first attempt at once, then retries after 5 s, 5 min,
#: 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h; after the last the delivery is dead.
RETRY_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)


@dataclass(frozen=True)
class Settings:
    """Where modelbay keeps its data and whom it talks to.

    Attributes:
        data_dir: the embedded data directory (SQLite file and blobs).
        db_url: SQLAlchemy URL of the metadata database; None means SQLite in ``data_dir``.
        url: a server to talk to; None means embedded (no server).
        api_key: the key sent to ``url``.
        user: the name the embedded mode acts as.
        blob_store: where bytes are stored: None (``data_dir/blobs``), a directory, or
            ``s3://bucket/prefix`` (credentials from the usual AWS settings).
        s3_endpoint_url: the S3 endpoint of a non-AWS store (SeaweedFS, MinIO...).
        cache_dir: the client's download cache.
        upload_part_size: bytes per part of a large upload (a server setting; default: the
            blob store's own, 64 MiB on disk and 8 MiB on S3).
        run_timeout: seconds after its last heartbeat that a ``running`` run counts as
            crashed (``MODELBAY_RUN_TIMEOUT``; default :data:`RUN_TIMEOUT`). Clients beat
            every 30 seconds, or a quarter of the timeout they are given if that is less.
        allow_private_destinations: automations may send to loopback and private network
            addresses (``modelbay server --allow-private-destinations``,
            ``MODELBAY_ALLOW_PRIVATE_DESTINATIONS=1``); refused by default.
        delivery_retry_schedule: seconds to wait before each attempt of a delivery, the
            first included (``MODELBAY_DELIVERY_RETRY_SCHEDULE=0,1,2``); after the last,
            the delivery is dead. Default: the Standard Webhooks schedule.
        public_url: the server's address as its users reach it (``MODELBAY_PUBLIC_URL``),
            for links in Slack messages; ``modelbay server`` defaults it to where it listens.
    """

    data_dir: Path
    db_url: str | None = None
    url: str | None = None
    api_key: str | None = None
    user: str = "local"
    blob_store: str | None = None
    s3_endpoint_url: str | None = None
    cache_dir: Path | None = None
    upload_part_size: int | None = None
    run_timeout: float = 300.0
    migrate: bool | None = None
    allow_private_destinations: bool = False
    delivery_retry_schedule: tuple[float, ...] = RETRY_SCHEDULE
    public_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("MODELBAY_DIR") or Path.home() / ".modelbay").expanduser()
        url = env.get("MODELBAY_URL") or None
        api_key = env.get("MODELBAY_API_KEY") or None
        if url and not api_key:
            api_key = stored_key(data_dir, url)
        return cls(
            data_dir=data_dir,
            db_url=env.get("MODELBAY_DB") or None,
            url=url.rstrip("/") if url else None,
            api_key=api_key,
            user=env.get("MODELBAY_USER") or _os_user(),
            blob_store=env.get("MODELBAY_BLOB_STORE") or None,
            s3_endpoint_url=env.get("MODELBAY_S3_ENDPOINT_URL")
            or env.get("AWS_ENDPOINT_URL_S3")
            or None,
            cache_dir=Path(env["MODELBAY_CACHE_DIR"]).expanduser()
            if env.get("MODELBAY_CACHE_DIR")
            else None,
            upload_part_size=_part_size(env.get("MODELBAY_UPLOAD_PART_SIZE")),
            run_timeout=run_timeout(env.get("MODELBAY_RUN_TIMEOUT")),
            migrate=_flag(env.get("MODELBAY_MIGRATE")),
            allow_private_destinations=env.get("MODELBAY_ALLOW_PRIVATE_DESTINATIONS", "")
            .strip()
            .lower()
            in ("1", "true", "yes", "on"),
            delivery_retry_schedule=retry_schedule(env.get("MODELBAY_DELIVERY_RETRY_SCHEDULE")),
            public_url=(env.get("MODELBAY_PUBLIC_URL") or "").rstrip("/") or None,
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'modelbay.db'}"

    @property
    def migrates(self) -> bool:
        """Whether opening the database brings its schema up to date. By default only
        SQLite's (one machine, the embedded mode): a shared database is migrated once, on
        purpose, by ``modelbay db upgrade``, and replicas refuse a schema not their own."""
        if self.migrate is not None:
            return self.migrate
        return self.database_url.startswith("sqlite")


def _flag(text: str | None) -> bool | None:
    """An on/off environment variable: None when unset."""
    from modelbay.errors import InvalidInputError

    if not text:
        return None
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise InvalidInputError(f"expected 1 or 0, got {text!r}")


def _part_size(text: str | None) -> int | None:
    """``MODELBAY_UPLOAD_PART_SIZE``: bytes or a size such as ``64MiB``, within S3's limits
    for a part (5 MiB to 5 GiB)."""
    if not text:
        return None
    from modelbay.errors import InvalidInputError
    from modelbay.sizes import parse_size

    size = parse_size(text, name="MODELBAY_UPLOAD_PART_SIZE")
    if not (5 << 20) <= size <= (5 << 30):
        raise InvalidInputError(
            f"invalid part size {text!r} in MODELBAY_UPLOAD_PART_SIZE: between 5 MiB and 5 GiB",
            {"value": text[:80], "name": "MODELBAY_UPLOAD_PART_SIZE"},
        )
    return size


#: Seconds of silence after which a running run is crashed: five minutes, a W&B-like
#: margin of ten missed heartbeats, so that a slow network or a busy server is not a crash.
RUN_TIMEOUT = 300.0
#: The most seconds between two heartbeats of a live run.
HEARTBEAT_INTERVAL = 30.0


def run_timeout(text: str | None) -> float:
    """``MODELBAY_RUN_TIMEOUT``: seconds, at least 1 (default :data:`RUN_TIMEOUT`)."""
    if not text:
        return RUN_TIMEOUT
    from modelbay.errors import InvalidInputError

    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 1 <= value <= 86400 * 365:
        raise InvalidInputError(
            f"invalid MODELBAY_RUN_TIMEOUT {text[:40]!r}: seconds, at least 1",
            {"value": text[:80], "name": "MODELBAY_RUN_TIMEOUT"},
        )
    return value


def heartbeat_interval(timeout: float) -> float:
    """How often a client beats for a server that waits ``timeout`` seconds: every
    :data:`HEARTBEAT_INTERVAL` seconds, or a quarter of the timeout if that is less."""
    return min(HEARTBEAT_INTERVAL, timeout / 4)


def cache_root(environ: Mapping[str, str] | None = None) -> Path:
    """The client's download cache: ``$MODELBAY_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/modelbay``, else ``~/.cache/modelbay``.

    Here rather than in sdk/cache.py so that what only needs the directory (the digest
    index of every upload) does not import the cache and its lock library.
    """
    env = os.environ if environ is None else environ
    if env.get("MODELBAY_CACHE_DIR"):
        return Path(env["MODELBAY_CACHE_DIR"]).expanduser()
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base.expanduser() / "modelbay"


def _os_user() -> str:
    import getpass

    try:
        name = getpass.getuser()
    except Exception:  # no user database entry in some containers
        name = "local"
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:128] or "local"


def private_dir(path: Path) -> bool:
    """Create ``path`` readable by this OS user only (0700) when it does not exist: the
    directory's permissions are the boundary of an embedded or single-machine deployment
    (whoever can read it can read every key hash, session and blob). Returns True when the
    directory existed already with permissions open to its group or others."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)  # the umask can only have removed bits; say it whole
        return False
    return bool(path.stat().st_mode & 0o077)


def credentials_file(data_dir: Path) -> Path:
    return data_dir / "credentials.json"


def stored_key(data_dir: Path, url: str) -> str | None:
    """The key ``modelbay login`` saved for ``url``, if any."""
    import json

    path = credentials_file(data_dir)
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    key = saved.get(url.rstrip("/")) if isinstance(saved, dict) else None
    return key if isinstance(key, str) else None


def save_key(data_dir: Path, url: str, key: str) -> Path:
    """Remember ``key`` for ``url`` in a file readable by its owner only."""
    import json

    path = credentials_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        saved = json.loads(path.read_text())
        if not isinstance(saved, dict):
            saved = {}
    except (OSError, ValueError):
        saved = {}
    saved[url.rstrip("/")] = key
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(saved, f)
    os.replace(tmp, path)
    return path


def retry_schedule(text: str | None) -> tuple[float, ...]:
    """``MODELBAY_DELIVERY_RETRY_SCHEDULE``: comma-separated seconds before each attempt
    (e.g. ``0,1,2``: three attempts), 1 to 50 of them, each 0 to a week."""
    if not text:
        return RETRY_SCHEDULE
    from modelbay.errors import InvalidInputError

    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not 1 <= len(values) <= 50 or not all(0 <= v <= 7 * 86400 for v in values):
        raise InvalidInputError(
            f"invalid MODELBAY_DELIVERY_RETRY_SCHEDULE {text[:80]!r}: comma-separated "
            "seconds before each attempt, e.g. 0,5,300",
            {"value": text[:80], "name": "MODELBAY_DELIVERY_RETRY_SCHEDULE"},
        )
    return values
