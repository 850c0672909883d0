"""Every operation of modelbay, declared once.

A declaration names the operation, its HTTP method and path, its request and response
models, who may call it, and the service method it calls. The server's routes and OpenAPI
spec, the SDK's HTTP transport and its embedded transport all follow from it: adding an
operation is writing its declaration and its service method. The core operations are
declared here; an area with many operations of its own declares them in its own module,
listed in :data:`AREAS`.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from modelbay.contract import (
    accounts,
    automations,
    distributed,
    jobs,
    lifecycle,
    media,
    people,
    public_api,
    tables,
)
from modelbay.contract import entities as e
from modelbay.contract import requests as r
from modelbay.contract.declaration import (
    COMMON_ERRORS,
    MAX_BODY_BYTES,
    Access,
    Operation,
    Role,
    Runner,
)

__all__ = ["COMMON_ERRORS", "MAX_BODY_BYTES", "OPERATIONS", "Access", "Operation", "Role", "Runner"]

#: A version's manifest: up to a million files in one commit.
MAX_MANIFEST_BYTES = 256 << 20
#: A run's history batch (the SDK sends at most 50,000 values a request).
MAX_HISTORY_BYTES = 32 << 20

RUN = "/projects/{project}/runs/{run_id}"
ARTIFACT = "/projects/{project}/artifacts/{name}"
COLLECTION = "/registries/{registry}/collections/{collection}"
USER, ADMIN, TEAM_ADMIN = Access.USER, Access.ADMIN, Access.TEAM_ADMIN
PROMOTION = "/promotions/{request_id}"

# -- runs --------------------------------------------------------------------------------

CREATE_RUN = Operation(
    "create_run", "POST", "/projects/{project}/runs", r.RunCreate, e.Run, service="runs.create",
    access=USER, errors=(403, 404, 409), status=201, tag="runs", role=Role.MEMBER,
    summary="Start a run (or resume one by id).",
)
LIST_RUNS = Operation(
    "list_runs", "GET", "/projects/{project}/runs", r.ProjectPath, e.Runs,
    service="runs.list_runs", access=USER, errors=(404,), wraps="runs", tag="runs",
    role=Role.RESTRICTED_VIEWER,
    summary="The runs of a project.",
)
GET_RUN = Operation(
    "get_run", "GET", RUN, r.RunPath, e.Run, service="runs.get", access=USER, errors=(404,),
    tag="runs", role=Role.RESTRICTED_VIEWER,
    summary="One run.",
)
UPDATE_RUN = Operation(
    "update_run", "PATCH", RUN, r.RunUpdate, e.Run, service="runs.update", access=USER,
    errors=(403, 404, 409), tag="runs", role=Role.MEMBER,
    summary="Change a run's config, summary, state, tags or notes.",
)
LOG_HISTORY = Operation(
    "log_history", "POST", RUN + "/history", r.HistoryPost, e.Stored, service="runs.log",
    access=USER, errors=(403, 404), wraps="stored", custom=True, tag="runs", role=Role.MEMBER,
    max_body=MAX_HISTORY_BYTES, summary="Append metric points to a run's history.",
    idempotent=True,
)
HISTORY = Operation(
    "history", "GET", RUN + "/history", r.HistoryQuery, e.History, service="runs.history",
    access=USER, errors=(404,), nonfinite=True, tag="runs", role=Role.RESTRICTED_VIEWER,
    summary="A run's metric history, downsampled on request.",
)
RUN_ARTIFACTS = Operation(
    "run_artifacts", "GET", RUN + "/artifacts", r.RunArtifactsQuery, e.Versions,
    service="runs.artifacts", access=USER, errors=(404,), wraps="versions", tag="runs",
    role=Role.RESTRICTED_VIEWER,
    summary="The artifact versions a run logged or used.",
)
HISTORIES = Operation(
    "histories", "POST", "/runs/history", r.HistoriesQuery, e.Histories, service="runs.histories",
    access=USER, errors=(404,), nonfinite=True, tag="metrics", role=Role.RESTRICTED_VIEWER,
    summary="Metric histories of many runs at once.",
    idempotent=True,
)
HISTORIES_GET = Operation(
    "histories_get", "GET", "/runs/history", r.HistoriesQuery, e.Histories,
    service="runs.histories", access=USER, errors=(404,), nonfinite=True, tag="metrics",
    role=Role.RESTRICTED_VIEWER,
    summary="Metric histories of many runs (comma-separated query).",
)
SUMMARIES = Operation(
    "summaries", "POST", "/runs/summaries", r.SummariesQuery, e.Summaries,
    service="runs.summaries", access=USER, errors=(404,), wraps="runs", tag="metrics",
    role=Role.RESTRICTED_VIEWER,
    summary="Summaries of many runs at once, for the compare table.",
    idempotent=True,
)
SUMMARIES_GET = Operation(
    "summaries_get", "GET", "/runs/summaries", r.SummariesQuery, e.Summaries,
    service="runs.summaries", access=USER, errors=(404,), wraps="runs", tag="metrics",
    role=Role.RESTRICTED_VIEWER,
    summary="Summaries of many runs (comma-separated query).",
)

# -- references --------------------------------------------------------------------------

RESOLVE = Operation(
    "resolve", "GET", "/resolve", r.RefQuery, e.Version, service="artifacts.get", access=USER,
    errors=(404,), run="read", tag="references", role=Role.RESTRICTED_VIEWER,
    summary="The version any reference names.",
)
USE = Operation(
    "use", "POST", "/use", r.Use, e.Version, service="artifacts.use", access=USER, errors=(404,),
    tag="references", role=Role.RESTRICTED_VIEWER,
    summary="Record that a run used a version, and return it.",
    idempotent=True,
)
LINEAGE = Operation(
    "lineage", "GET", "/lineage", r.LineageQuery, e.Lineage, service="lineage.graph", access=USER,
    errors=(404,), tag="references", role=Role.RESTRICTED_VIEWER,
    summary="The lineage graph around a version or a run.",
)
EVENTS = Operation(
    "events", "GET", "/history", r.HistoryOfRef, e.Events, service="registry.history", access=USER,
    errors=(404,), wraps="events", tag="references", role=Role.RESTRICTED_VIEWER,
    summary="The audit events of a version, newest first.",
)

# -- artifacts ---------------------------------------------------------------------------

LIST_ARTIFACTS = Operation(
    "list_artifacts", "GET", "/projects/{project}/artifacts", r.ArtifactsQuery, e.Artifacts,
    service="artifacts.list_artifacts", access=USER, errors=(404,), wraps="artifacts",
    tag="artifacts", role=Role.RESTRICTED_VIEWER,
    summary="The artifacts of a project.",
)
COMMIT_VERSION = Operation(
    "commit_version", "POST", ARTIFACT + "/versions", r.VersionCommit, e.Version,
    service="artifacts.commit_version", access=USER, errors=(403, 404, 409), creates=True,
    run="write", tag="artifacts", role=Role.MEMBER, max_body=MAX_MANIFEST_BYTES,
    summary="Commit a version from stored files (200 and the existing version when unchanged).",
    idempotent=True,
)
ARTIFACT_VERSIONS = Operation(
    "artifact_versions", "GET", ARTIFACT + "/versions", r.ArtifactPath, e.Versions,
    service="artifacts.list_versions", access=USER, errors=(404,), wraps="versions",
    tag="artifacts", role=Role.RESTRICTED_VIEWER,
    summary="Every version of an artifact.",
)
GET_ARTIFACT_VERSION = Operation(
    "get_artifact_version", "GET", ARTIFACT + "/versions/{selector}", r.ArtifactVersionPath,
    e.Version, service="artifacts.get", access=USER, errors=(404,), run="read", tag="artifacts",
    role=Role.RESTRICTED_VIEWER,
    summary="One artifact version.",
)
ARTIFACT_VERSION_FILES = Operation(
    "artifact_version_files", "GET", ARTIFACT + "/versions/{selector}/files",
    r.ArtifactVersionPath, e.Files, service="artifacts.files", access=USER, errors=(404,),
    wraps="files", tag="artifacts", role=Role.VIEWER,
    summary="An artifact version's files.",
)
UPDATE_ARTIFACT_VERSION = Operation(
    "update_artifact_version", "PATCH", ARTIFACT + "/versions/{selector}", r.ArtifactVersionUpdate,
    e.Version, service="artifacts.update", access=USER, errors=(403, 404, 409), tag="artifacts",
    role=Role.MEMBER,
    summary="Change a version's description, metadata, aliases or tags.",
)
DELETE_ARTIFACT_VERSION = Operation(
    "delete_artifact_version", "DELETE", ARTIFACT + "/versions/{selector}", r.ArtifactVersionPath,
    e.Empty, service="artifacts.delete", access=USER, errors=(403, 404, 409), tag="artifacts",
    role=Role.MEMBER,
    summary="Delete an artifact version (its bytes go at the next gc).",
)
SET_ARTIFACT_ALIAS = Operation(
    "set_artifact_alias", "PUT", ARTIFACT + "/aliases/{alias}", r.ArtifactAliasSet, e.Version,
    service="artifacts.set_alias", access=USER, errors=(403, 404, 409), run="write",
    tag="artifacts", role=Role.MEMBER,
    summary="Point an alias at a version, moving it.",
)
REMOVE_ARTIFACT_ALIAS = Operation(
    "remove_artifact_alias", "DELETE", ARTIFACT + "/aliases/{alias}", r.ArtifactAliasPath, e.Empty,
    service="artifacts.remove_alias", access=USER, errors=(403, 404), run="write", tag="artifacts",
    role=Role.MEMBER,
    summary="Remove an alias.",
)

# -- registries --------------------------------------------------------------------------

REGISTRIES = Operation(
    "registries", "GET", "/registries", r.NoArgs, e.Registries, service="registry.list_registries",
    access=USER, wraps="registries", tag="registries",
    summary="The registries.",
)
CREATE_REGISTRY = Operation(
    "create_registry", "POST", "/registries", r.RegistryCreate, e.Registry,
    service="registry.create_registry", access=ADMIN, errors=(403, 409), status=201,
    tag="registries",
    summary="Create a custom registry.",
)
REGISTRY = Operation(
    "registry", "GET", "/registries/{registry}", r.RegistryPath, e.Registry,
    service="registry.get_registry", access=USER, errors=(404,), tag="registries",
    role=Role.RESTRICTED_VIEWER,
    summary="One registry.",
)
COLLECTIONS = Operation(
    "collections", "GET", "/registries/{registry}/collections", r.CollectionsQuery, e.Collections,
    service="registry.list_collections", access=USER, errors=(404,), wraps="collections",
    tag="registries", role=Role.RESTRICTED_VIEWER,
    summary="A registry's collections, optionally searched.",
)
COLLECTION_GET = Operation(
    "collection", "GET", COLLECTION, r.CollectionPath, e.Collection,
    service="registry.get_collection", access=USER, errors=(404,), tag="registries",
    role=Role.RESTRICTED_VIEWER,
    summary="One collection (registered model) with its aliases.",
)
UPDATE_COLLECTION = Operation(
    "update_collection", "PATCH", COLLECTION, r.CollectionUpdate, e.Collection,
    service="registry.update_collection", access=USER, errors=(403, 404), tag="registries",
    role=Role.MEMBER,
    summary="Change a collection's description (model card) or tags.",
)
COLLECTION_HISTORY = Operation(
    "collection_history", "GET", COLLECTION + "/history", r.CollectionHistory, e.Events,
    service="registry.history", access=USER, errors=(404,), wraps="events", tag="registries",
    role=Role.RESTRICTED_VIEWER,
    summary="The audit events of a collection, newest first.",
)
LINK = Operation(
    "link", "POST", COLLECTION + "/versions", r.Link, e.Version, service="registry.link",
    access=USER, errors=(403, 404, 409), creates=True, run="write", tag="registries",
    role=Role.MEMBER,
    summary="Link an artifact version into a collection (200 and the existing link when linked).",
    idempotent=True,
)
COLLECTION_VERSIONS = Operation(
    "collection_versions", "GET", COLLECTION + "/versions", r.VersionsPage, e.VersionPage,
    service="registry.list_versions", access=USER, errors=(404,), run="read", tag="registries",
    role=Role.RESTRICTED_VIEWER,
    summary="A page of a collection's versions.",
)
GET_COLLECTION_VERSION = Operation(
    "get_collection_version", "GET", COLLECTION + "/versions/{selector}", r.CollectionVersionPath,
    e.Version, service="artifacts.get", access=USER, errors=(404,), run="read", tag="registries",
    role=Role.RESTRICTED_VIEWER,
    summary="One registry version.",
)
COLLECTION_VERSION_FILES = Operation(
    "collection_version_files", "GET", COLLECTION + "/versions/{selector}/files",
    r.CollectionVersionPath, e.Files, service="artifacts.files", access=USER, errors=(404,),
    wraps="files", tag="registries", role=Role.VIEWER,
    summary="A registry version's files.",
)
UPDATE_COLLECTION_VERSION = Operation(
    "update_collection_version", "PATCH", COLLECTION + "/versions/{selector}",
    r.CollectionVersionUpdate, e.Version, service="artifacts.update", access=USER,
    errors=(403, 404, 409), tag="registries", role=Role.MEMBER,
    summary="Change a registry version's description, metadata, aliases or tags.",
)
UNLINK = Operation(
    "unlink", "DELETE", COLLECTION + "/versions/{selector}", r.CollectionVersionPath, e.Empty,
    service="registry.unlink", access=USER, errors=(403, 404, 409), tag="registries",
    role=Role.MEMBER,
    summary="Unlink a version from its collection.",
)
VERSION_HISTORY = Operation(
    "version_history", "GET", COLLECTION + "/versions/{selector}/history",
    r.CollectionVersionHistory, e.Events, service="registry.history", access=USER, errors=(404,),
    wraps="events", tag="registries", role=Role.RESTRICTED_VIEWER,
    summary="The audit events of a registry version, newest first.",
)
SET_COLLECTION_ALIAS = Operation(
    "set_collection_alias", "PUT", COLLECTION + "/aliases/{alias}", r.CollectionAliasSet,
    e.Version, service="registry.set_alias", access=USER, errors=(403, 404, 409), run="write",
    tag="registries", role=Role.MEMBER,
    summary="Point a collection alias at a version, moving it.",
)
REMOVE_COLLECTION_ALIAS = Operation(
    "remove_collection_alias", "DELETE", COLLECTION + "/aliases/{alias}", r.CollectionAliasPath,
    e.Empty, service="registry.remove_alias", access=USER, errors=(403, 404), run="write",
    tag="registries", role=Role.MEMBER,
    summary="Remove a collection alias.",
)

UPDATE_REGISTRY = Operation(
    "update_registry", "PATCH", "/registries/{registry}", r.RegistryUpdate, e.Registry,
    service="access.update_registry", access=USER, role=Role.ADMIN, errors=(403, 404),
    tag="registries",
    summary="Change a registry's description, visibility, accepted types or approvals needed.",
)

# -- access ------------------------------------------------------------------------------

REGISTRY_MEMBERS = Operation(
    "registry_members", "GET", "/registries/{registry}/members", r.RegistryName, e.Members,
    service="access.members", access=USER, role=Role.RESTRICTED_VIEWER, errors=(404,),
    wraps="members", tag="access",
    summary="The users and teams holding a role in a registry.",
)
ADD_REGISTRY_MEMBER = Operation(
    "add_registry_member", "POST", "/registries/{registry}/members", r.RegistryMemberAdd,
    e.Member, service="access.add_member", access=USER, role=Role.ADMIN, errors=(403, 404),
    tag="access",
    summary="Give a user or team a role in a registry.",
)
REMOVE_REGISTRY_MEMBER = Operation(
    "remove_registry_member", "DELETE", "/registries/{registry}/members", r.RegistryMember,
    e.Empty, service="access.remove_member", access=USER, role=Role.ADMIN, errors=(403, 404),
    tag="access",
    summary="Take a user's or team's role in a registry away (?user= or ?team=).",
)
PROJECT = Operation(
    "project", "GET", "/projects/{project}", r.ProjectPath, e.Project,
    service="access.get_project", access=USER, role=Role.RESTRICTED_VIEWER, errors=(404,),
    tag="access",
    summary="A project's visibility, creator and the caller's role in it.",
)
UPDATE_PROJECT = Operation(
    "update_project", "PATCH", "/projects/{project}", r.ProjectUpdate, e.Project,
    service="access.update_project", access=USER, role=Role.ADMIN, errors=(403, 404),
    tag="access",
    summary="Make a project organization-visible or restricted.",
)
PROJECT_MEMBERS = Operation(
    "project_members", "GET", "/projects/{project}/members", r.ProjectPath, e.Members,
    service="access.members", access=USER, role=Role.RESTRICTED_VIEWER, errors=(404,),
    wraps="members", tag="access",
    summary="The users and teams holding a role in a project.",
)
ADD_PROJECT_MEMBER = Operation(
    "add_project_member", "POST", "/projects/{project}/members", r.ProjectMemberAdd, e.Member,
    service="access.add_member", access=USER, role=Role.ADMIN, errors=(403, 404), tag="access",
    summary="Give a user or team a role in a project.",
)
REMOVE_PROJECT_MEMBER = Operation(
    "remove_project_member", "DELETE", "/projects/{project}/members", r.ProjectMember, e.Empty,
    service="access.remove_member", access=USER, role=Role.ADMIN, errors=(403, 404),
    tag="access",
    summary="Take a user's or team's role in a project away (?user= or ?team=).",
)
TEAMS = Operation(
    "teams", "GET", "/teams", r.NoArgs, e.Teams, service="access.teams", access=USER,
    wraps="teams", tag="access",
    summary="Every team and its members.",
)
CREATE_TEAM = Operation(
    "create_team", "POST", "/teams", r.TeamCreate, e.Team, service="access.create_team",
    access=ADMIN, errors=(403, 409), status=201, tag="access",
    summary="Create a team.",
)
ADD_TEAM_MEMBER = Operation(
    "add_team_member", "PUT", "/teams/{team}/members/{user}", r.TeamMemberAdd, e.Team,
    service="access.add_team_member", access=TEAM_ADMIN, errors=(403, 404), tag="access",
    summary="Add a user to a team, or change their role in it (admin or member).",
)
REMOVE_TEAM_MEMBER = Operation(
    "remove_team_member", "DELETE", "/teams/{team}/members/{user}", r.TeamMember, e.Empty,
    service="access.remove_team_member", access=TEAM_ADMIN, errors=(403, 404), tag="access",
    summary="Remove a user from a team.",
)
PROTECTED_ALIASES = Operation(
    "protected_aliases", "GET", "/registries/{registry}/protected-aliases", r.RegistryName,
    e.ProtectedAliases, service="access.protected", access=USER, role=Role.RESTRICTED_VIEWER,
    errors=(404,), wraps="protected_aliases", tag="access",
    summary="A registry's protected alias names and patterns.",
)
PROTECT_ALIAS = Operation(
    "protect_alias", "PUT", "/registries/{registry}/protected-aliases/{pattern}",
    r.ProtectedAlias, e.ProtectedAliases, service="access.protect", access=USER,
    role=Role.ADMIN, errors=(403, 404), wraps="protected_aliases", tag="access",
    summary="Protect an alias name or glob: only registry admins may then move it.",
)
UNPROTECT_ALIAS = Operation(
    "unprotect_alias", "DELETE", "/registries/{registry}/protected-aliases/{pattern}",
    r.ProtectedAlias, e.Empty, service="access.unprotect", access=USER, role=Role.ADMIN,
    errors=(403, 404), tag="access",
    summary="Stop protecting an alias name or glob.",
)

# -- promotion requests ------------------------------------------------------------------

PROMOTE = Operation(
    "promote", "POST", COLLECTION + "/versions/{selector}/promotions", r.PromotionCreate,
    e.Promotion, service="promotions.request", access=USER, role=Role.MEMBER,
    errors=(403, 404, 409), status=201, tag="promotions",
    summary="Ask for a protected alias on a version (an admin's own request just moves it).",
)
PROMOTIONS = Operation(
    "promotions", "GET", "/registries/{registry}/promotions", r.PromotionsQuery, e.Promotions,
    service="promotions.list_requests", access=USER, role=Role.RESTRICTED_VIEWER,
    errors=(404,), wraps="requests", tag="promotions",
    summary="A registry's promotion requests, newest first.",
)
PROMOTION_GET = Operation(
    "promotion", "GET", PROMOTION, r.PromotionPath, e.Promotion, service="promotions.get",
    access=USER, role=Role.RESTRICTED_VIEWER, errors=(404,), tag="promotions",
    summary="One promotion request with its reviews.",
)
APPROVE = Operation(
    "approve", "POST", PROMOTION + "/approve", r.PromotionReview, e.Promotion,
    service="promotions.approve", access=USER, role=Role.ADMIN, errors=(403, 404, 409),
    tag="promotions",
    summary="Approve a request (not one's own); the last approval needed moves the alias.",
)
REJECT = Operation(
    "reject", "POST", PROMOTION + "/reject", r.PromotionReview, e.Promotion,
    service="promotions.reject", access=USER, role=Role.ADMIN, errors=(403, 404, 409),
    tag="promotions",
    summary="Reject a promotion request.",
)
CANCEL_PROMOTION = Operation(
    "cancel_promotion", "POST", PROMOTION + "/cancel", r.PromotionPath, e.Promotion,
    service="promotions.cancel", access=USER, role=Role.ADMIN, errors=(403, 404, 409),
    tag="promotions",
    summary="Withdraw a promotion request (the requester, or a registry admin).",
)

# -- blobs -------------------------------------------------------------------------------

MISSING_BLOBS = Operation(
    "missing_blobs", "POST", "/blobs/missing", r.Digests, e.Missing, service="blobs.missing",
    access=USER, wraps="missing", tag="blobs",
    summary="Which of these digests the server does not hold.",
    idempotent=True,
)
BEGIN_UPLOADS = Operation(
    "begin_uploads", "POST", "/blobs/uploads", r.UploadFiles, e.UploadPlan,
    service="blobs.begin_uploads", access=USER, errors=(409,), tag="blobs",
    summary="Say how to send each missing blob (upload sessions).",
    idempotent=True,
)
COMPLETE_UPLOADS = Operation(
    "complete_uploads", "POST", "/blobs/uploads/complete", r.UploadIds, e.UploadResults,
    service="blobs.complete_many", access=USER, errors=(404, 409), wraps="results", tag="blobs",
    summary="Verify and record the blobs of finished upload sessions.",
)
COMPLETE_UPLOAD = Operation(
    "complete_upload", "POST", "/blobs/uploads/{upload_id}/complete", r.UploadClaim,
    e.UploadResult, service="blobs.complete", access=USER, errors=(404, 409), tag="blobs",
    summary="Verify and record one upload session's blob.",
)
LOCATIONS = Operation(
    "locations", "POST", "/blobs/locations", r.Digests, e.Locations, service="blobs.locations",
    access=USER, errors=(404,), wraps="locations", tag="blobs",
    summary="Where to fetch each stored blob from.",
    idempotent=True,
)

# -- users and administration ------------------------------------------------------------

WHOAMI = Operation(
    "whoami", "GET", "/whoami", r.NoArgs, e.Whoami, service="auth.whoami", access=USER,
    tag="users",
    summary="The user the key belongs to.",
)
CREATE_USER = Operation(
    "create_user", "POST", "/users", r.UserCreate, e.UserCreated, service="auth.create_user",
    access=ADMIN, errors=(403, 409), status=201, tag="users",
    summary="Create a user and their first API key (shown once).",
)
GC = Operation(
    "gc", "POST", "/admin/gc", r.GcRequest, e.GcResult, service="garbage.collect", access=ADMIN,
    errors=(403,), tag="admin",
    summary="Delete stored bytes no version refers to, and abandoned upload sessions.",
)

#: The modules that declare the operations of one area each.
AREAS: tuple[ModuleType, ...] = (
    people, automations, media, tables, public_api, jobs, accounts, lifecycle, distributed
)


def _collect() -> dict[str, Operation[Any, Any]]:
    found: dict[str, Operation[Any, Any]] = {}
    for namespace in (globals(), *(vars(m) for m in AREAS)):
        for op in list(namespace.values()):
            if isinstance(op, Operation):
                if found.get(op.name, op) is not op:
                    raise RuntimeError(f"operation {op.name!r} is declared twice")
                found[op.name] = op
    return found


#: Every operation, by name.
OPERATIONS: dict[str, Operation[Any, Any]] = _collect()
