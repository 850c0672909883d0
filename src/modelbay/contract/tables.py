"""Tables: a page of a version's (or a run's) W&B table, sorted and filtered on the server.

Reading a table's rows needs the viewer role: a restricted viewer sees that a version
exists, not what it holds. The filter language is described in
:mod:`modelbay.services.tables`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from modelbay.contract import entities as e
from modelbay.contract.declaration import Access, Operation, Role
from modelbay.contract.fields import FilePath, Int64, Text
from modelbay.contract.requests import SHORT, Name, Project, Request
from modelbay.names import parse_ref

FILTER_HELP = (
    "clauses joined by 'and', each <column> <op> <value>, op one of = != < <= > >= ~ "
    '(contains); quote a column name with spaces in "double quotes"'
)


class PageOf(Request):
    sort: Text | None = Field(default=None, max_length=SHORT, description="a column to sort by")
    descending: bool = False
    filter: Text | None = Field(default=None, max_length=4096, description=FILTER_HELP)
    offset: Int64 = Field(default=0, ge=0)
    limit: int = Field(default=50, ge=1, le=500)


class TableQuery(PageOf):
    """A table file of a version: ``ref`` names the version, ``path`` the file."""

    ref: Text = Field(max_length=SHORT)
    path: FilePath = Field(max_length=SHORT)

    def service_args(self) -> dict[str, Any]:
        return {**self.model_dump(exclude={"ref"}), "ref": parse_ref(self.ref)}


class RunTableQuery(PageOf):
    """The table a run logged under ``key`` (the latest, or the one at ``step``)."""

    project: Project
    run_id: Name = Field(max_length=SHORT)
    key: Name
    step: Int64 | None = Field(default=None, ge=0)


class TablePage(e.Entity):
    """One page of a table. ``rows`` hold the cells as stored, image cells with a ``url``
    (the web UI's image route); ``indices`` each row's place in the whole table; ``total``
    the rows the filter keeps, ``count`` all rows."""

    ref: str
    path: str
    sha256: str
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    indices: list[int]
    total: int
    count: int
    offset: int
    limit: int


TABLE = Operation(
    "table",
    "GET",
    "/tables",
    TableQuery,
    TablePage,
    service="tables.page",
    access=Access.USER,
    errors=(403, 404),
    tag="tables",
    role=Role.VIEWER,
    summary="A page of a version's table file, sorted and filtered.",
)
RUN_TABLE = Operation(
    "run_table",
    "GET",
    "/projects/{project}/runs/{run_id}/tables/{key}",
    RunTableQuery,
    TablePage,
    service="tables.run_page",
    access=Access.USER,
    errors=(403, 404),
    tag="tables",
    role=Role.VIEWER,
    summary="A page of a table a run logged (at a step, else the latest), sorted and filtered.",
)
