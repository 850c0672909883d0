"""Searches of W&B's public API: ``api.runs(path, filters, order)``, ``api.registries(filter)``
and its ``.collections(filter).versions(filter)`` chain, ``api.artifacts(type, name, tags)``.

Filters compile to SQL (:mod:`modelbay.store.filters`) and the caller's read rule is part of
the same query, so a page holds only what the caller may read and is never short. Pages are
keyset pages: a token names the last row returned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelbay import names
from modelbay.errors import InvalidFilterError, InvalidInputError, NotFoundError
from modelbay.jsontext import Info
from modelbay.services import access
from modelbay.services.core import Principal, link_info, version_info
from modelbay.services.runs import crash_silent_runs, run_info
from modelbay.store import access as access_store
from modelbay.store import artifacts as artifact_store
from modelbay.store import bounded, filters
from modelbay.store import registry as registry_store
from modelbay.store import search as store
from modelbay.store import tags as tag_store
from modelbay.store.database import Database

#: The most rows one page holds.
MAX_PAGE = 1000


def _check_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE}")
    return limit


class SearchService:
    def __init__(self, db: Database, *, run_timeout: float) -> None:
        self.db = db
        self.run_timeout = run_timeout

    @staticmethod
    def _readable_registries(principal: Principal) -> sa.ColumnElement[bool] | None:
        if principal.is_admin:
            return None
        return access_store.readable_registries(principal.user_id)

    def runs(
        self,
        principal: Principal,
        project: str,
        filters: dict[str, Any] | None = None,
        order: str = "+created_at",
        limit: int = 50,
        page_token: str | None = None,
    ) -> Info:
        """A page of a project's runs that match ``filters``, in ``order``:
        ``{"runs": [...], "next_page_token": str | None}``.

        Raises:
            InvalidFilterError: a bad filter or order.
            NotFoundError: no such project, or one the caller may not read.
        """
        limit = _check_limit(limit)
        crash_silent_runs(self.db, self.run_timeout)
        with _searching(self.db) as conn:
            pid = access.require_project(conn, principal, project)["id"]
            dialect = conn.dialect.name
            where = filters_of(filters, store.run_fields(dialect), dialect)
            rows, token = store.search_runs(conn, pid, where, order, limit, page_token)
            return {"runs": [run_info(r) for r in rows], "next_page_token": token}

    def registries(
        self,
        principal: Principal,
        filter: dict[str, Any] | None = None,  # noqa: A002  (W&B's name)
        limit: int = 100,
        page_token: str | None = None,
        order: str | None = None,
    ) -> Info:
        """A page of the registries the caller may read that match ``filter``, in W&B's
        ``order`` (``+name``, ``-created_at``; by id when None).

        Raises:
            InvalidFilterError: a bad filter or order.
        """
        from modelbay.services.registry import RegistryService

        limit = _check_limit(limit)
        with _searching(self.db) as conn:
            dialect = conn.dialect.name
            where = filters_of(filter, store.registry_fields(), dialect)
            rows, token = store.search_registries(
                conn, where, self._readable_registries(principal), limit, page_token, order
            )
            counts = store.collection_counts(conn, [r["id"] for r in rows])
            found = [
                RegistryService._registry_info({**r, "collection_count": counts[r["id"]]})
                for r in rows
            ]
            return {"registries": found, "next_page_token": token}

    def collections(
        self,
        principal: Principal,
        registry_filter: dict[str, Any] | None = None,
        filter: dict[str, Any] | None = None,  # noqa: A002
        limit: int = 100,
        page_token: str | None = None,
        order: str | None = None,
    ) -> Info:
        """A page of the collections that match ``filter``, in the readable registries
        that match ``registry_filter``, in W&B's ``order`` (``name``, ``created_at``,
        ``updated_at``; by id when None)."""
        from modelbay.services.registry import RegistryService

        limit = _check_limit(limit)
        with _searching(self.db) as conn:
            dialect = conn.dialect.name
            where = sa.and_(
                filters_of(registry_filter, store.registry_fields(), dialect),
                filters_of(filter, store.collection_fields(), dialect),
            )
            rows, token = store.search_collections(
                conn, where, self._readable_registries(principal), limit, page_token, order
            )
            ids = [r["id"] for r in rows]
            tags = tag_store.tags_of(conn, tag_store.COLLECTION, ids)
            counts = store.version_counts(conn, ids)
            for row in rows:
                row["version_count"] = counts[row["id"]]
            found = [
                RegistryService._collection_info(r["registry"], r, tags[r["id"]]) for r in rows
            ]
            return {"collections": found, "next_page_token": token}

    def versions(
        self,
        principal: Principal,
        registry_filter: dict[str, Any] | None = None,
        collection_filter: dict[str, Any] | None = None,
        filter: dict[str, Any] | None = None,  # noqa: A002
        limit: int = 100,
        page_token: str | None = None,
        order: str | None = None,
    ) -> Info:
        """A page of the registry versions that match ``filter``, in the collections and
        readable registries that match theirs, in W&B's ``order`` (``created_at``: the
        artifact's; ``linked_at``; ``artifact_size``); newest link first when None."""
        limit = _check_limit(limit)
        with _searching(self.db) as conn:
            dialect = conn.dialect.name
            where = sa.and_(
                filters_of(registry_filter, store.registry_fields(), dialect),
                filters_of(collection_filter, store.collection_fields(), dialect),
                filters_of(filter, store.version_fields(), dialect),
            )
            rows, token = store.search_links(
                conn, where, self._readable_registries(principal), limit, page_token, order
            )
            aliases = registry_store.aliases_of_links(conn, [r["link_id"] for r in rows])
            tags = tag_store.tags_of(conn, tag_store.VERSION, [r["id"] for r in rows])
            found = [
                link_info(r, r["registry"], r["collection"], aliases[r["link_id"]], tags[r["id"]])
                for r in rows
            ]
            return {"versions": found, "next_page_token": token}

    def artifact_versions(
        self,
        principal: Principal,
        project: str,
        name: str,
        type: str | None = None,  # noqa: A002
        filter: dict[str, Any] | None = None,  # noqa: A002
        limit: int = 100,
        page_token: str | None = None,
    ) -> Info:
        """A page of one project artifact's versions, newest first, that match ``filter``.

        Raises:
            NotFoundError: no such artifact (of that ``type``), or an unreadable project.
        """
        limit = _check_limit(limit)
        with _searching(self.db) as conn:
            pid = access.require_project(conn, principal, project)["id"]
            art = artifact_store.get_artifact(conn, pid, names.check_name(name, "artifact"))
            if art is None or (type is not None and art["type"] != type):
                kind = f" of type {type!r}" if type is not None else ""
                raise NotFoundError(f"artifact {project}/{name}{kind} not found")
            dialect = conn.dialect.name
            where = filters_of(filter, store.artifact_version_fields(), dialect)
            rows, token = store.search_artifact_versions(conn, art["id"], where, limit, page_token)
            ids = [r["id"] for r in rows]
            aliases = artifact_store.aliases_of(conn, ids)
            tags = tag_store.tags_of(conn, tag_store.VERSION, ids)
            found = [version_info(r, aliases[r["id"]], tags[r["id"]]) for r in rows]
            return {"versions": found, "next_page_token": token}


def filters_of(spec: object, fields: filters.Fields, dialect: str) -> sa.ColumnElement[bool]:
    return filters.compile_filter(spec, fields, dialect)


@contextlib.contextmanager
def _searching(db: Database) -> Iterator[Connection]:
    """A read for one search, its statements bounded in time (:mod:`modelbay.store.bounded`).

    A filter the compiler accepts but the database cannot evaluate (a regular expression
    PostgreSQL's dialect does not know, such as Python's ``(?P<name>...)``), or one that runs
    past the bound (a pathological regular expression), is the caller's error, not the
    server's.

    Raises:
        InvalidFilterError: either.
    """
    try:
        with db.read() as conn, bounded.bounded(conn):
            yield conn
    except sa.exc.DataError as exc:
        problem = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
        raise InvalidFilterError(
            f"the database cannot evaluate this filter: {problem[:200]}"
        ) from None
    except bounded.TooSlowError:
        raise InvalidFilterError(
            f"the search ran past {bounded.SEARCH_SECONDS:g} seconds: simplify the filter "
            "(a regular expression that backtracks, such as (a|aa)+$, is the usual cause)",
            {"at": "filter", "reason": "too_slow"},
        ) from None


__all__ = ["MAX_PAGE", "SearchService"]
