"""Helpers for the SQLite files on a client or server's own disk (the store's database, the
download cache's index, the digest index).

:func:`enable_wal` puts a database in WAL mode safely when several processes open it at once.
``PRAGMA journal_mode=WAL`` needs the database's exclusive lock, and SQLite does not run the
busy handler for it: a process that opens the file while another is creating it, or is
switching it, gets "database is locked" at once, whatever the busy timeout. WAL mode is
stored in the file, so the switch is only needed once per database: read the mode first
(a shared lock, which does wait), and retry the switch itself until a deadline.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from typing import Any

#: The longest a connection waits for another process to let go during the switch.
SWITCH_TIMEOUT = 60.0


def enable_wal(cursor: Any, *, timeout: float = SWITCH_TIMEOUT) -> None:
    """Make the database behind ``cursor`` (sqlite3 connection or cursor) use WAL mode."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
            if str(mode).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


#: Bound parameters per statement: SQLite's default limit was 999 before 3.32.
IN_CHUNK = 900


def rows_in(conn: sqlite3.Connection, select: str, keys: Iterable[Any]) -> Iterator[Any]:
    """Rows of ``select`` (ending in ``... IN``) for every key, a few hundred keys a query."""
    wanted = list(keys)
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[start : start + IN_CHUNK]
        yield from conn.execute(f"{select} ({','.join('?' * len(chunk))})", chunk)
