"""Every operation of modelbay, declared once.

A declaration names the operation, its HTTP method and path, its request and response
models, who may call it, and the service method it calls. The server's routes and OpenAPI
spec, the SDK's HTTP transport and its embedded transport all follow from it: adding an
operation is writing its declaration and its service method.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from modelbay.contract import entities as e
from modelbay.contract import requests as r

Req = TypeVar("Req", bound=r.Request)
Resp = TypeVar("Resp", bound=e.Entity)


class Access(enum.Enum):
    """Who may call an operation (the services apply the finer rules of each object)."""

    #: Anyone, without a key.
    PUBLIC = "public"
    #: Any signed-in user (read what they may read, change what they may change).
    USER = "user"
    #: Organization admins only.
    ADMIN = "admin"


#: How the server runs the service call: ``thread`` in a worker thread; ``read`` and
#: ``write`` inline on SQLite when that cannot wait on a lock (see server/api/deps.py).
Runner = Literal["thread", "read", "write"]

#: The error statuses any operation with a key may answer.
COMMON_ERRORS = (400, 401, 413, 429)


@dataclass(frozen=True)
class Operation(Generic[Req, Resp]):
    name: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    request: type[Req]
    response: type[Resp]
    #: ``group.method`` of :class:`modelbay.services.Services`, called as
    #: ``method(principal, **request.service_args())``.
    service: str
    access: Access
    summary: str
    #: The statuses this operation may answer besides 2xx and :data:`COMMON_ERRORS`.
    errors: tuple[int, ...] = ()
    #: The service returns ``(entity, created)``: 201 when created, else 200.
    creates: bool = False
    #: The service returns a list (or mapping) that the response holds under this key.
    wraps: str | None = None
    run: Runner = "thread"
    #: The status of success when the service returns one entity (201 for a creation).
    status: int = 200
    #: The response may hold NaN and the infinities (metric values), written as JSON does
    #: not allow but Python and JavaScript read.
    nonfinite: bool = False
    #: The route is written by hand in server/api (it streams a body); declared for the spec.
    custom: bool = False
    tag: str = "general"
    path_params: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        params = tuple(p.split("}")[0] for p in self.path.split("{")[1:])
        object.__setattr__(self, "path_params", params)

    @property
    def has_body(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH")

    @property
    def success_status(self) -> int:
        if self.response is e.Empty:
            return 204
        return 201 if self.creates else self.status


RUN = "/projects/{project}/runs/{run_id}"
ARTIFACT = "/projects/{project}/artifacts/{name}"
COLLECTION = "/registries/{registry}/collections/{collection}"
USER, ADMIN = Access.USER, Access.ADMIN

# -- runs ----------------------------------------------------------------------------------

CREATE_RUN = Operation(
    "create_run",
    "POST",
    "/projects/{project}/runs",
    r.RunCreate,
    e.Run,
    "runs.create",
    USER,
    "Start a run (or resume one by id).",
    errors=(403, 404, 409),
    status=201,
    tag="runs",
)
LIST_RUNS = Operation(
    "list_runs",
    "GET",
    "/projects/{project}/runs",
    r.ProjectPath,
    e.Runs,
    "runs.list_runs",
    USER,
    "The runs of a project.",
    errors=(404,),
    wraps="runs",
    tag="runs",
)
GET_RUN = Operation(
    "get_run",
    "GET",
    RUN,
    r.RunPath,
    e.Run,
    "runs.get",
    USER,
    "One run.",
    errors=(404,),
    tag="runs",
)
UPDATE_RUN = Operation(
    "update_run",
    "PATCH",
    RUN,
    r.RunUpdate,
    e.Run,
    "runs.update",
    USER,
    "Change a run's config, summary, state, tags or notes.",
    errors=(403, 404, 409),
    tag="runs",
)
LOG_HISTORY = Operation(
    "log_history",
    "POST",
    RUN + "/history",
    r.HistoryPost,
    e.Stored,
    "runs.log",
    USER,
    "Append metric points to a run's history.",
    errors=(403, 404),
    wraps="stored",
    custom=True,
    tag="runs",
)
HISTORY = Operation(
    "history",
    "GET",
    RUN + "/history",
    r.HistoryQuery,
    e.History,
    "runs.history",
    USER,
    "A run's metric history, downsampled on request.",
    errors=(404,),
    nonfinite=True,
    tag="runs",
)
RUN_ARTIFACTS = Operation(
    "run_artifacts",
    "GET",
    RUN + "/artifacts",
    r.RunArtifactsQuery,
    e.Versions,
    "runs.artifacts",
    USER,
    "The artifact versions a run logged or used.",
    errors=(404,),
    wraps="versions",
    tag="runs",
)
HISTORIES = Operation(
    "histories",
    "POST",
    "/runs/history",
    r.HistoriesQuery,
    e.Histories,
    "runs.histories",
    USER,
    "Metric histories of many runs at once.",
    errors=(404,),
    nonfinite=True,
    tag="metrics",
)
HISTORIES_GET = Operation(
    "histories_get",
    "GET",
    "/runs/history",
    r.HistoriesQuery,
    e.Histories,
    "runs.histories",
    USER,
    "Metric histories of many runs (comma-separated query).",
    errors=(404,),
    nonfinite=True,
    tag="metrics",
)
SUMMARIES = Operation(
    "summaries",
    "POST",
    "/runs/summaries",
    r.SummariesQuery,
    e.Summaries,
    "runs.summaries",
    USER,
    "Summaries of many runs at once, for the compare table.",
    errors=(404,),
    wraps="runs",
    tag="metrics",
)
SUMMARIES_GET = Operation(
    "summaries_get",
    "GET",
    "/runs/summaries",
    r.SummariesQuery,
    e.Summaries,
    "runs.summaries",
    USER,
    "Summaries of many runs (comma-separated query).",
    errors=(404,),
    wraps="runs",
    tag="metrics",
)

# -- references ----------------------------------------------------------------------------

RESOLVE = Operation(
    "resolve",
    "GET",
    "/resolve",
    r.RefQuery,
    e.Version,
    "artifacts.get",
    USER,
    "The version any reference names.",
    errors=(404,),
    run="read",
    tag="references",
)
USE = Operation(
    "use",
    "POST",
    "/use",
    r.Use,
    e.Version,
    "artifacts.use",
    USER,
    "Record that a run used a version, and return it.",
    errors=(404,),
    tag="references",
)
LINEAGE = Operation(
    "lineage",
    "GET",
    "/lineage",
    r.LineageQuery,
    e.Lineage,
    "lineage.graph",
    USER,
    "The lineage graph around a version or a run.",
    errors=(404,),
    tag="references",
)
EVENTS = Operation(
    "events",
    "GET",
    "/history",
    r.HistoryOfRef,
    e.Events,
    "registry.history",
    USER,
    "The audit events of a version, newest first.",
    errors=(404,),
    wraps="events",
    tag="references",
)

# -- artifacts -----------------------------------------------------------------------------

LIST_ARTIFACTS = Operation(
    "list_artifacts",
    "GET",
    "/projects/{project}/artifacts",
    r.ArtifactsQuery,
    e.Artifacts,
    "artifacts.list_artifacts",
    USER,
    "The artifacts of a project.",
    errors=(404,),
    wraps="artifacts",
    tag="artifacts",
)
COMMIT_VERSION = Operation(
    "commit_version",
    "POST",
    ARTIFACT + "/versions",
    r.VersionCommit,
    e.Version,
    "artifacts.commit_version",
    USER,
    "Commit a version from stored files (200 and the existing version when unchanged).",
    errors=(403, 404, 409, 507),
    creates=True,
    run="write",
    tag="artifacts",
)
ARTIFACT_VERSIONS = Operation(
    "artifact_versions",
    "GET",
    ARTIFACT + "/versions",
    r.ArtifactPath,
    e.Versions,
    "artifacts.list_versions",
    USER,
    "Every version of an artifact.",
    errors=(404,),
    wraps="versions",
    tag="artifacts",
)
GET_ARTIFACT_VERSION = Operation(
    "get_artifact_version",
    "GET",
    ARTIFACT + "/versions/{selector}",
    r.ArtifactVersionPath,
    e.Version,
    "artifacts.get",
    USER,
    "One artifact version.",
    errors=(404,),
    run="read",
    tag="artifacts",
)
ARTIFACT_VERSION_FILES = Operation(
    "artifact_version_files",
    "GET",
    ARTIFACT + "/versions/{selector}/files",
    r.ArtifactVersionPath,
    e.Files,
    "artifacts.files",
    USER,
    "An artifact version's files.",
    errors=(404,),
    wraps="files",
    tag="artifacts",
)
UPDATE_ARTIFACT_VERSION = Operation(
    "update_artifact_version",
    "PATCH",
    ARTIFACT + "/versions/{selector}",
    r.ArtifactVersionUpdate,
    e.Version,
    "artifacts.update",
    USER,
    "Change a version's description, metadata, aliases or tags.",
    errors=(403, 404, 409),
    tag="artifacts",
)
DELETE_ARTIFACT_VERSION = Operation(
    "delete_artifact_version",
    "DELETE",
    ARTIFACT + "/versions/{selector}",
    r.ArtifactVersionPath,
    e.Empty,
    "artifacts.delete",
    USER,
    "Delete an artifact version (its bytes go at the next gc).",
    errors=(403, 404, 409),
    tag="artifacts",
)
SET_ARTIFACT_ALIAS = Operation(
    "set_artifact_alias",
    "PUT",
    ARTIFACT + "/aliases/{alias}",
    r.ArtifactAliasSet,
    e.Version,
    "artifacts.set_alias",
    USER,
    "Point an alias at a version, moving it.",
    errors=(403, 404, 409),
    run="write",
    tag="artifacts",
)
REMOVE_ARTIFACT_ALIAS = Operation(
    "remove_artifact_alias",
    "DELETE",
    ARTIFACT + "/aliases/{alias}",
    r.ArtifactAliasPath,
    e.Empty,
    "artifacts.remove_alias",
    USER,
    "Remove an alias.",
    errors=(403, 404),
    run="write",
    tag="artifacts",
)

# -- registries ----------------------------------------------------------------------------

REGISTRIES = Operation(
    "registries",
    "GET",
    "/registries",
    r.NoArgs,
    e.Registries,
    "registry.list_registries",
    USER,
    "The registries.",
    wraps="registries",
    tag="registries",
)
CREATE_REGISTRY = Operation(
    "create_registry",
    "POST",
    "/registries",
    r.RegistryCreate,
    e.Registry,
    "registry.create_registry",
    ADMIN,
    "Create a custom registry.",
    errors=(403, 409),
    status=201,
    tag="registries",
)
REGISTRY = Operation(
    "registry",
    "GET",
    "/registries/{registry}",
    r.RegistryPath,
    e.Registry,
    "registry.get_registry",
    USER,
    "One registry.",
    errors=(404,),
    tag="registries",
)
COLLECTIONS = Operation(
    "collections",
    "GET",
    "/registries/{registry}/collections",
    r.CollectionsQuery,
    e.Collections,
    "registry.list_collections",
    USER,
    "A registry's collections, optionally searched.",
    errors=(404,),
    wraps="collections",
    tag="registries",
)
COLLECTION_GET = Operation(
    "collection",
    "GET",
    COLLECTION,
    r.CollectionPath,
    e.Collection,
    "registry.get_collection",
    USER,
    "One collection (registered model) with its aliases.",
    errors=(404,),
    tag="registries",
)
UPDATE_COLLECTION = Operation(
    "update_collection",
    "PATCH",
    COLLECTION,
    r.CollectionUpdate,
    e.Collection,
    "registry.update_collection",
    USER,
    "Change a collection's description (model card) or tags.",
    errors=(403, 404),
    tag="registries",
)
COLLECTION_HISTORY = Operation(
    "collection_history",
    "GET",
    COLLECTION + "/history",
    r.CollectionHistory,
    e.Events,
    "registry.history",
    USER,
    "The audit events of a collection, newest first.",
    errors=(404,),
    wraps="events",
    tag="registries",
)
LINK = Operation(
    "link",
    "POST",
    COLLECTION + "/versions",
    r.Link,
    e.Version,
    "registry.link",
    USER,
    "Link an artifact version into a collection (200 and the existing link when linked).",
    errors=(403, 404, 409),
    creates=True,
    run="write",
    tag="registries",
)
COLLECTION_VERSIONS = Operation(
    "collection_versions",
    "GET",
    COLLECTION + "/versions",
    r.VersionsPage,
    e.VersionPage,
    "registry.list_versions",
    USER,
    "A page of a collection's versions.",
    errors=(404,),
    run="read",
    tag="registries",
)
GET_COLLECTION_VERSION = Operation(
    "get_collection_version",
    "GET",
    COLLECTION + "/versions/{selector}",
    r.CollectionVersionPath,
    e.Version,
    "artifacts.get",
    USER,
    "One registry version.",
    errors=(404,),
    run="read",
    tag="registries",
)
COLLECTION_VERSION_FILES = Operation(
    "collection_version_files",
    "GET",
    COLLECTION + "/versions/{selector}/files",
    r.CollectionVersionPath,
    e.Files,
    "artifacts.files",
    USER,
    "A registry version's files.",
    errors=(404,),
    wraps="files",
    tag="registries",
)
UPDATE_COLLECTION_VERSION = Operation(
    "update_collection_version",
    "PATCH",
    COLLECTION + "/versions/{selector}",
    r.CollectionVersionUpdate,
    e.Version,
    "artifacts.update",
    USER,
    "Change a registry version's description, metadata, aliases or tags.",
    errors=(403, 404, 409),
    tag="registries",
)
UNLINK = Operation(
    "unlink",
    "DELETE",
    COLLECTION + "/versions/{selector}",
    r.CollectionVersionPath,
    e.Empty,
    "registry.unlink",
    USER,
    "Unlink a version from its collection.",
    errors=(403, 404, 409),
    tag="registries",
)
VERSION_HISTORY = Operation(
    "version_history",
    "GET",
    COLLECTION + "/versions/{selector}/history",
    r.CollectionVersionHistory,
    e.Events,
    "registry.history",
    USER,
    "The audit events of a registry version, newest first.",
    errors=(404,),
    wraps="events",
    tag="registries",
)
SET_COLLECTION_ALIAS = Operation(
    "set_collection_alias",
    "PUT",
    COLLECTION + "/aliases/{alias}",
    r.CollectionAliasSet,
    e.Version,
    "registry.set_alias",
    USER,
    "Point a collection alias at a version, moving it.",
    errors=(403, 404, 409),
    run="write",
    tag="registries",
)
REMOVE_COLLECTION_ALIAS = Operation(
    "remove_collection_alias",
    "DELETE",
    COLLECTION + "/aliases/{alias}",
    r.CollectionAliasPath,
    e.Empty,
    "registry.remove_alias",
    USER,
    "Remove a collection alias.",
    errors=(403, 404),
    run="write",
    tag="registries",
)

# -- blobs ---------------------------------------------------------------------------------

MISSING_BLOBS = Operation(
    "missing_blobs",
    "POST",
    "/blobs/missing",
    r.Digests,
    e.Missing,
    "blobs.missing",
    USER,
    "Which of these digests the server does not hold.",
    wraps="missing",
    tag="blobs",
)
BEGIN_UPLOADS = Operation(
    "begin_uploads",
    "POST",
    "/blobs/uploads",
    r.UploadFiles,
    e.UploadPlan,
    "blobs.begin_uploads",
    USER,
    "Say how to send each missing blob (upload sessions).",
    errors=(409, 507),
    tag="blobs",
)
COMPLETE_UPLOADS = Operation(
    "complete_uploads",
    "POST",
    "/blobs/uploads/complete",
    r.UploadIds,
    e.UploadResults,
    "blobs.complete_many",
    USER,
    "Verify and record the blobs of finished upload sessions.",
    errors=(404, 409),
    wraps="results",
    tag="blobs",
)
COMPLETE_UPLOAD = Operation(
    "complete_upload",
    "POST",
    "/blobs/uploads/{upload_id}/complete",
    r.UploadClaim,
    e.UploadResult,
    "blobs.complete",
    USER,
    "Verify and record one upload session's blob.",
    errors=(404, 409),
    tag="blobs",
)
LOCATIONS = Operation(
    "locations",
    "POST",
    "/blobs/locations",
    r.Digests,
    e.Locations,
    "blobs.locations",
    USER,
    "Where to fetch each stored blob from.",
    errors=(404,),
    wraps="locations",
    tag="blobs",
)

# -- users and administration ------------------------------------------------------------------

WHOAMI = Operation(
    "whoami",
    "GET",
    "/whoami",
    r.NoArgs,
    e.Whoami,
    "auth.whoami",
    USER,
    "The user the key belongs to.",
    tag="users",
)
CREATE_USER = Operation(
    "create_user",
    "POST",
    "/users",
    r.UserCreate,
    e.UserCreated,
    "auth.create_user",
    ADMIN,
    "Create a user and their first API key (shown once).",
    errors=(403, 409),
    status=201,
    tag="users",
)
GC = Operation(
    "gc",
    "POST",
    "/admin/gc",
    r.GcRequest,
    e.GcResult,
    "garbage.collect",
    ADMIN,
    "Delete stored bytes no version refers to, and abandoned upload sessions.",
    errors=(403, 507),
    tag="admin",
)

#: Every operation, by name.
OPERATIONS: dict[str, Operation[Any, Any]] = {
    op.name: op for op in list(globals().values()) if isinstance(op, Operation)
}
