"""W&B's public API searches: runs of a project, registries, collections and registry
versions, and one artifact's versions, each filtered with W&B's MongoDB-style operators in
the database and paged by keyset (``modelbay.Api().runs(...)``, ``.registries(...)``).

The searches are POSTs: a filter is a JSON object, which a query string cannot carry well.
They change nothing.
"""

from __future__ import annotations

from pydantic import Field

from modelbay.contract import entities as e
from modelbay.contract.declaration import Access, Operation, Role
from modelbay.contract.fields import JsonObject, Text, text
from modelbay.contract.requests import SHORT, Name, Project, Request

# -- requests ----------------------------------------------------------------------------

#: The most rows a search page may hold.
MAX_PAGE = 1000
Filter = JsonObject | None
PageToken = Text | None


class RunsSearch(Request):
    project: Project
    filters: Filter = None
    #: A field, ``+`` (ascending, the default) or ``-`` first: ``-summary_metrics.acc``.
    order: text(300) = "+created_at"  # type: ignore[valid-type]
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    page_token: PageToken = Field(default=None, max_length=SHORT)


class RegistriesSearch(Request):
    filter: Filter = None
    #: W&B's order: a field, ``+`` (ascending, the default) or ``-`` first (``-created_at``).
    order: text(300) | None = None  # type: ignore[valid-type]
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)
    page_token: PageToken = Field(default=None, max_length=SHORT)


class CollectionsSearch(RegistriesSearch):
    registry_filter: Filter = None


class VersionsSearch(CollectionsSearch):
    collection_filter: Filter = None


class ArtifactVersionsSearch(Request):
    project: Project
    name: Name
    type: Name | None = None
    filter: Filter = None
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)
    page_token: PageToken = Field(default=None, max_length=SHORT)


# -- responses ---------------------------------------------------------------------------


class RunPage(e.Entity):
    runs: list[e.Run]
    next_page_token: str | None = None


class RegistryPage(e.Entity):
    registries: list[e.Registry]
    next_page_token: str | None = None


class CollectionPage(e.Entity):
    collections: list[e.Collection]
    next_page_token: str | None = None


# -- operations --------------------------------------------------------------------------

SEARCH_RUNS = Operation(
    "search_runs",
    "POST",
    "/projects/{project}/runs/search",
    RunsSearch,
    RunPage,
    service="search.runs",
    access=Access.USER,
    errors=(404,),
    tag="search",
    role=Role.RESTRICTED_VIEWER,
    nonfinite=True,
    summary="A page of a project's runs matching a filter, in an order.",
)
SEARCH_REGISTRIES = Operation(
    "search_registries",
    "POST",
    "/search/registries",
    RegistriesSearch,
    RegistryPage,
    service="search.registries",
    access=Access.USER,
    tag="search",
    summary="A page of the readable registries matching a filter.",
)
SEARCH_COLLECTIONS = Operation(
    "search_collections",
    "POST",
    "/search/collections",
    CollectionsSearch,
    CollectionPage,
    service="search.collections",
    access=Access.USER,
    tag="search",
    summary="A page of the collections matching a filter, in registries matching another.",
)
SEARCH_VERSIONS = Operation(
    "search_versions",
    "POST",
    "/search/versions",
    VersionsSearch,
    e.VersionPage,
    service="search.versions",
    access=Access.USER,
    tag="search",
    summary="A page of registry versions matching filters on them, their collection and registry.",
)
SEARCH_ARTIFACT_VERSIONS = Operation(
    "search_artifact_versions",
    "POST",
    "/projects/{project}/artifacts/{name}/versions/search",
    ArtifactVersionsSearch,
    e.VersionPage,
    service="search.artifact_versions",
    access=Access.USER,
    errors=(404,),
    tag="search",
    role=Role.RESTRICTED_VIEWER,
    summary="A page of one artifact's versions matching a filter (tags, metadata ...).",
)
