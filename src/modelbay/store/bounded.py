"""A time bound on one search statement, so that a filter cannot hold a server thread.

PostgreSQL cancels the statement itself (``SET LOCAL statement_timeout``). SQLite's
``REGEXP`` is a Python function (SQLite has the operator, not the function): it runs the
``regex`` package's engine, whose searches take a timeout, against a deadline shared by every
row of the statement, so that neither one pathological pattern (``(a|aa)+$``) nor a cheap
one over many rows runs past the bound. :func:`bounded` sets the bound around a statement;
:class:`TooSlowError` says it was reached, whichever database.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

#: The longest a search statement may run, in seconds.
SEARCH_SECONDS = 5.0
#: The longest one REGEXP test may run where no statement bound is set (any other caller).
REGEXP_SECONDS = 1.0
#: PostgreSQL's SQLSTATE for a statement cancelled by statement_timeout.
QUERY_CANCELED = "57014"

_local = threading.local()


class TooSlowError(Exception):
    """The statement ran past its bound."""


@functools.lru_cache(maxsize=256)
def _pattern(pattern: str) -> Any:
    import regex

    return regex.compile(pattern)


def regexp(pattern: str | None, value: object) -> bool | None:
    """SQLite's ``value REGEXP pattern``: the pattern found in the text, within the
    statement's deadline (else :data:`REGEXP_SECONDS`).

    Raises:
        TooSlowError: past the deadline (SQLite aborts the statement).
    """
    if pattern is None or value is None:
        return None
    deadline: float | None = getattr(_local, "deadline", None)
    left = REGEXP_SECONDS if deadline is None else deadline - time.monotonic()
    try:
        if left <= 0:
            raise TimeoutError
        return _pattern(pattern).search(str(value), timeout=left) is not None
    except TimeoutError:
        _local.exceeded = True
        raise TooSlowError(pattern) from None


@contextlib.contextmanager
def bounded(conn: Connection, seconds: float | None = None) -> Iterator[None]:
    """Run the statements of the block within ``seconds`` (default
    :data:`SEARCH_SECONDS`): each statement, on PostgreSQL; all REGEXP tests together, on
    SQLite.

    Raises:
        TooSlowError: a statement ran past the bound.
    """
    seconds = SEARCH_SECONDS if seconds is None else seconds
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(seconds * 1000)}")
        try:
            yield
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == QUERY_CANCELED:
                raise TooSlowError(str(exc.orig).splitlines()[0]) from None
            raise
        return
    _local.deadline, _local.exceeded = time.monotonic() + seconds, False
    try:
        yield
    except sa.exc.OperationalError:
        if getattr(_local, "exceeded", False):
            raise TooSlowError("a regular expression ran past the search's bound") from None
        raise
    finally:
        _local.deadline, _local.exceeded = None, False
