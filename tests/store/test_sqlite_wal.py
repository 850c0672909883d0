"""Many processes opening one new SQLite file at once all get a WAL database.

A bare ``PRAGMA journal_mode=WAL`` fails with "database is locked" (the busy timeout does not
cover it) when another process is switching the same new file; this flaked the download
cache's multi-process test in CI.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from modelbay.sqlite_files import enable_wal

PROCESSES = 8
ROUNDS = 10


def _open_and_write(path: str, start: float, results: multiprocessing.Queue[str | None]) -> None:
    while time.time() < start:  # line every process up on the same instant
        pass
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        enable_wal(conn)
        conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
        conn.execute("INSERT INTO t VALUES (1)")
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        conn.close()
        results.put(None if mode == "wal" else f"journal mode {mode}")
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(repr(exc))


def test_processes_racing_on_a_new_database_all_switch_it_to_wal(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    for round_ in range(ROUNDS):
        path = str(tmp_path / f"race{round_}.db")
        results: multiprocessing.Queue[str | None] = ctx.Queue()
        start = time.time() + 0.2
        procs = [
            ctx.Process(target=_open_and_write, args=(path, start, results))
            for _ in range(PROCESSES)
        ]
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
        assert [o for o in outcomes if o is not None] == []
        conn = sqlite3.connect(path)
        assert conn.execute("SELECT COUNT(*) FROM t").fetchone() == (PROCESSES,)
        conn.close()


def test_an_error_other_than_busy_is_not_retried(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db")
    conn.close()
    with pytest.raises(sqlite3.ProgrammingError):
        enable_wal(conn)  # closed connection: raised at once, not retried


def test_the_background_checkpointer_moves_commits_into_the_database_file(
    tmp_path: Path,
) -> None:
    from modelbay.store.database import BACKSTOP_AUTOCHECKPOINT, Database

    db = Database(f"sqlite:///{tmp_path / 'meta.db'}")
    path = tmp_path / "meta.db"
    db.start_checkpointer(interval=0.05)
    try:
        with db.read() as conn:  # connections opened now use the backstop threshold
            raw = conn.connection.dbapi_connection
            assert raw is not None
            assert raw.execute("PRAGMA wal_autocheckpoint").fetchone() == (BACKSTOP_AUTOCHECKPOINT,)
        before = path.stat().st_size
        with db.write() as conn:  # ~100 pages: far below any commit-time threshold
            conn.exec_driver_sql("CREATE TABLE filler (x BLOB)")
            for _ in range(100):
                conn.exec_driver_sql("INSERT INTO filler VALUES (zeroblob(4000))")
        deadline = time.monotonic() + 30
        while path.stat().st_size <= before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert path.stat().st_size > before, "nothing was checkpointed into the database file"
    finally:
        db.dispose()
    assert not any(t.name == "modelbay-checkpoint" for t in threading.enumerate())
