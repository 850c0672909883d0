"""The metadata database: engine set-up, transactions, migrations on start.

SQLite runs in WAL mode so that readers never wait for the writer; every write transaction
starts with ``BEGIN IMMEDIATE`` so that two writers queue on the database lock (with a busy
timeout) instead of failing with "database is locked" when they upgrade a read lock.
PostgreSQL takes row locks (``SELECT ... FOR UPDATE``) where a counter is bumped.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from filelock import FileLock
from sqlalchemy.engine import Connection, Engine

from modelbay.errors import InvalidInputError, SchemaMismatchError, StorageFullError
from modelbay.extras import require
from modelbay.preallocation import NO_ROOM
from modelbay.sqlite_files import enable_wal
from modelbay.store.automations import OUTBOX_FLAG, WRITTEN
from modelbay.store.ballast import Ballast
from modelbay.store.bounded import regexp

#: Set while a write transaction on SQLite must not wait for the database lock: it runs on
#: the server's event loop, where waiting would stall every other request.
_NO_WAIT: contextvars.ContextVar[bool] = contextvars.ContextVar("modelbay_no_wait", default=False)


class WouldWait(Exception):
    """The SQLite database lock is held elsewhere, and the caller asked not to wait for it.

    Raised before anything is written, so the call can be repeated where waiting is fine.
    """


#: SQLite's own threshold (pages in the write-ahead log) for a commit to checkpoint.
WAL_AUTOCHECKPOINT = 1000
#: The threshold while a background checkpointer runs (80 MB of 4 KiB pages).
BACKSTOP_AUTOCHECKPOINT = 20_000
#: Seconds between background checkpoints.
CHECKPOINT_INTERVAL = 0.5

log = logging.getLogger("modelbay.store")

#: The newest migration; ``tests/store/test_migrations.py`` checks it against Alembic's head.
HEAD_REVISION = "0024"


class Database:
    """One metadata database (SQLite file or PostgreSQL), migrated to the newest schema."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        #: SQLite connection settings read when a connection opens.
        self.sqlite_options = {"wal_autocheckpoint": WAL_AUTOCHECKPOINT}
        self.engine = _create_engine(url, self.sqlite_options)
        self.dialect = self.engine.dialect.name
        self._checkpointer: _Checkpointer | None = None
        self._ballast: Ballast | None = None
        path = self.engine.url.database
        #: The SQLite file :meth:`probe` keeps a connection to (None: not a SQLite file).
        self._probe_path = path if self.is_sqlite and path and path != ":memory:" else None
        self._probe: sqlite3.Connection | None = None
        self._probe_lock = threading.Lock()
        if migrate:
            self.migrate()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextlib.contextmanager
    def write(self, *, frees_room: bool = False) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on an exception.

        ``frees_room``: the call deletes, so that room can be freed; on a full disk it may
        use the room kept for that (see :meth:`keep_room`).

        Raises:
            StorageFullError: the database's disk (or quota) is full; nothing was written.
        """
        if frees_room and self._ballast is not None:
            self._ballast.give_up_if_full()
        with _full_is_typed(), self.engine.connect() as conn:
            mode = "IMMEDIATE"
            if _NO_WAIT.get() and self.is_sqlite:
                # Only the first write of a call may refuse to wait: after it has committed,
                # repeating the call would repeat that write.
                _NO_WAIT.set(False)
                mode = "IMMEDIATE_NOWAIT"
            conn.execution_options(modelbay_begin=mode)
            with conn.begin():
                yield conn
            if conn.info.pop(OUTBOX_FLAG, False):
                WRITTEN.set()  # deliveries committed: wake this process's dispatcher

    @contextlib.contextmanager
    def without_waiting(self) -> Iterator[None]:
        """Within the block, the first write transaction raises :class:`WouldWait` at once
        (SQLite only) when another connection holds the database lock, instead of waiting
        up to the busy timeout for it."""
        token = _NO_WAIT.set(True)
        try:
            yield
        finally:
            _NO_WAIT.reset(token)

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction with one consistent snapshot.

        Raises:
            StorageFullError: the database's disk is full (SQLite cannot open a connection
                when it cannot make its WAL index).
        """
        with _full_is_typed(), self.engine.connect() as conn, conn.begin():
            yield conn

    def schema_revision(self) -> str | None:
        """The schema's Alembic revision; None for an empty database."""
        return self._revision()

    def check_schema(self) -> None:
        """Refuse a database whose schema is not :data:`HEAD_REVISION`.

        Raises:
            SchemaMismatchError: it is older (with the command that upgrades it) or newer.
        """
        current = self._revision()
        if current == HEAD_REVISION:
            return
        where = {"schema": current, "needed": HEAD_REVISION}
        if current is not None and current > HEAD_REVISION:
            raise SchemaMismatchError(
                f"the database's schema ({current}) is newer than this modelbay's "
                f"({HEAD_REVISION}): upgrade modelbay on this machine",
                where,
            )
        raise SchemaMismatchError(
            f"the database's schema is {'empty' if current is None else current}, this "
            f"modelbay needs {HEAD_REVISION}: run 'modelbay db upgrade --db URL' once "
            "(or start the server with --migrate)",
            where,
        )

    @contextlib.contextmanager
    def one_read(self) -> Iterator[Connection]:
        """A connection for a single read statement, without a transaction of its own (one
        statement reads one consistent snapshot anyway): for the key look-up every request
        makes, where BEGIN and COMMIT cost as much as the query.

        Raises:
            StorageFullError: as :meth:`read`.
        """
        with _full_is_typed(), self.engine.connect() as conn:
            yield conn

    def probe(self, sql: str) -> Any:
        """The first column of the first row of ``sql``, a fixed one-row read, or None.

        For the check every request makes: on a SQLite file it runs on a connection this
        process keeps for it (no pool checkout, no transaction: one statement reads the
        latest commit); elsewhere on a pooled connection.

        Raises:
            StorageFullError: as :meth:`read`.
        """
        if self._probe_path is not None:
            with self._probe_lock:
                try:
                    if self._probe is None:
                        self._probe = _probe_connection(self._probe_path)
                    # Read to the end: a statement left mid-way would hold its read
                    # transaction (and the checkpointer back) until the next request.
                    rows = self._probe.execute(sql).fetchall()
                    return rows[0][0] if rows else None
                except sqlite3.Error:  # e.g. a full disk: dropped, and typed below
                    if self._probe is not None:
                        self._probe.close()
                    self._probe = None
        with self.one_read() as conn:
            return conn.exec_driver_sql(sql).scalar()

    def migrate(self) -> None:
        """Bring the schema to :data:`HEAD_REVISION`; several processes may call this at once."""
        if self._revision() == HEAD_REVISION:
            return
        with self._migration_lock():
            if self._revision() == HEAD_REVISION:
                return
            from alembic import command
            from alembic.config import Config

            cfg = Config()
            cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
            with self.engine.connect() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                conn.commit()

    def _revision(self) -> str | None:
        try:
            with self.read() as conn:
                row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
        except sa.exc.DBAPIError:
            return None
        return str(row[0]) if row else None

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.is_sqlite:
            db_path = self.engine.url.database
            lock_path = Path(f"{db_path}.migrate.lock") if db_path else None
            if lock_path is None or db_path == ":memory:":
                yield
                return
            with FileLock(lock_path):
                yield
        else:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT pg_advisory_lock(7061766)")
                conn.commit()
                try:
                    yield
                finally:
                    conn.exec_driver_sql("SELECT pg_advisory_unlock(7061766)")
                    conn.commit()

    def start_checkpointer(self, interval: float = CHECKPOINT_INTERVAL) -> None:
        """SQLite: copy committed pages from the write-ahead log into the database file in a
        background thread, so that requests do not.

        Otherwise the commit that crosses SQLite's threshold (1,000 pages, every ~70 links)
        does it, fsyncs included, inside a request. The threshold stays, much higher, as a
        backstop should the thread fall behind. (Measured in-process on a loaded machine, a
        link's p99 went from 4.0-6.4 ms to 2.7-4.8 ms; the median, ~0.19 ms, is unchanged.)
        """
        path = self.engine.url.database
        if not self.is_sqlite or not path or path == ":memory:" or self._checkpointer:
            return
        self.sqlite_options["wal_autocheckpoint"] = BACKSTOP_AUTOCHECKPOINT
        self.engine.dispose()  # pooled connections reopen with the new threshold
        self._checkpointer = _Checkpointer(path, interval)

    def keep_room(self) -> None:
        """SQLite: keep room on the database's disk for the writes that free room (deleting
        versions, collecting garbage), in a ballast file beside it (see store/ballast.py).
        For a long-running process (the server): it is taken when there is room for it."""
        path = self.engine.url.database
        if self.is_sqlite and path and path != ":memory:" and self._ballast is None:
            self._ballast = Ballast(Path(f"{path}-ballast"))

    def regain_room(self) -> None:
        """Take the ballast again if it was given up and the disk has room for it now."""
        if self._ballast is not None:
            self._ballast.take()

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        with self._probe_lock:
            if self._probe is not None:
                self._probe.close()
                self._probe = None
        self.engine.dispose()


#: SQLite's errors of a full disk: SQLITE_FULL, and SQLITE_IOERR_SHMSIZE (a new connection
#: could not make its WAL index, which is what a full disk does to it).
_SQLITE_FULL = frozenset({"SQLITE_FULL", "SQLITE_IOERR_SHMSIZE"})
_PG_DISK_FULL = "53100"


@contextlib.contextmanager
def _full_is_typed() -> Iterator[None]:
    """Turn the database's "disk full" errors into :class:`StorageFullError`."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        if _disk_full(exc.orig):
            raise StorageFullError(
                "the metadata database's disk is full; nothing was written", {"storage": "database"}
            ) from exc
        raise


def _disk_full(exc: BaseException | None) -> bool:
    """Whether a driver's error says the disk is full: SQLite's codes, PostgreSQL's
    ``disk_full`` (SQLSTATE 53100), or an OSError ENOSPC or EDQUOT behind either."""
    for _ in range(8):  # a chain, never a cycle, is followed
        if exc is None:
            break
        if getattr(exc, "sqlite_errorname", None) in _SQLITE_FULL:
            return True
        if getattr(exc, "sqlstate", None) == _PG_DISK_FULL:
            return True
        if isinstance(exc, OSError) and exc.errno in NO_ROOM:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class _Checkpointer:
    """A daemon thread running ``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval`` seconds:
    it never waits for readers or writers, and SQLite works without the GIL meanwhile."""

    def __init__(self, path: str, interval: float) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modelbay-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        warned = False
        try:
            # At once, not after the first interval: this connection then holds the WAL and
            # its index open for as long as the server runs, so that a disk that fills up
            # meanwhile cannot keep the server's next connection from making them.
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            while not self._stop.wait(self.interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # busy now; the next round (or the backstop) will do
                    if not warned:
                        log.warning("background WAL checkpoint of %s: %s", self.path, exc)
                        warned = True
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def load_json(text: str | bytes) -> Any:
    """Read a stored JSON column: orjson (reading a 1,000-row page's metadata in a fifth of
    the time), or the standard library for the NaN and Infinity it may have written."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _create_engine(url: str, sqlite_options: dict[str, int]) -> Engine:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise InvalidInputError(f"invalid database URL: {exc}") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, sqlite_options)
    if parsed.get_backend_name() != "postgresql":
        raise InvalidInputError(
            f"unsupported database {parsed.drivername!r}: use sqlite or postgresql"
        )
    if parsed.drivername == "postgresql+psycopg":
        require("postgres", "a PostgreSQL database")
    return sa.create_engine(
        parsed,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        json_deserializer=load_json,
    )


#: How long a SQLite writer waits for another's lock before "database is locked".
BUSY_TIMEOUT_MS = 60_000
_BEGIN = {mode: f"BEGIN {mode}" for mode in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE")}


def _probe_connection(path: str) -> sqlite3.Connection:
    """A read-only autocommit connection to a SQLite file, for :meth:`Database.probe`."""
    conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA query_only=1")
    return conn


def _sqlite_engine(url: sa.engine.URL, options: dict[str, int]) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"timeout": 60, "check_same_thread": False},
        json_deserializer=load_json,
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so that BEGIN IMMEDIATE is ours.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        enable_wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute(f"PRAGMA wal_autocheckpoint={int(options['wal_autocheckpoint'])}")
        cur.close()
        # SQLite has the REGEXP operator but no function behind it (search filters' $regex).
        dbapi_conn.create_function("regexp", 2, regexp, deterministic=True)

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("modelbay_begin", "DEFERRED")
        # On the driver's connection: through exec_driver_sql this cost as much as a query.
        raw: Any = conn.connection.dbapi_connection
        if mode == "IMMEDIATE_NOWAIT":
            raw.execute("PRAGMA busy_timeout=0")
            try:
                raw.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise WouldWait(str(exc)) from exc
                raise
            finally:
                raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            return
        try:
            raw.execute(_BEGIN[mode])
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance(
                _BEGIN[mode], (), exc, sqlite3.Error, dialect=conn.dialect
            ) from exc

    return engine
