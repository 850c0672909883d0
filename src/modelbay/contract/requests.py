"""What operations take: one model per request, holding its path, query and body fields.

The edge's rules live here (field types from :mod:`modelbay.contract.fields`), so a request
that reaches a service is well formed; the services still own every rule about the state.
Unknown fields are refused, so that a typo is an error, not a no-op.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, ValidationError

from modelbay.contract.deferred import DeferredModel
from modelbay.contract.fields import FilePath, Int64, JsonObject, Text
from modelbay.errors import InvalidInputError
from modelbay.names import (
    MAX_TAG_CHARS,
    MAX_TAGS,
    NAME_RE,
    TAG_RE,
    ArtifactRef,
    Ref,
    RegistryRef,
    parse_ref,
)

# The name rules, stated for the spec (a client or a fuzzer learns them there). The services
# check them, and answer invalid_name; the request models do not, so the error is the same
# from every transport.
#: A project, run, artifact, type, alias, version, registry, collection or user name.
Name = Annotated[
    Text,
    Field(
        json_schema_extra={"pattern": NAME_RE.pattern},
        description="1-128 of A-Z a-z 0-9 . _ - (not only dots)",
    ),
]
#: A project name: also not ending in ``-registry`` nor starting with ``wandb-registry-``.
Project = Annotated[
    Text,
    Field(
        json_schema_extra={"pattern": NAME_RE.pattern},
        description="a name, not ending in -registry nor starting with wandb-registry-",
    ),
]
#: A tag: words of letters, digits, ``-`` and ``_`` separated by single spaces.
Tag = Annotated[
    Text,
    Field(json_schema_extra={"pattern": TAG_RE.pattern, "maxLength": MAX_TAG_CHARS}),
]
#: A list of tags (a run's, version's or collection's), at most :data:`MAX_TAGS`.
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]

MAX_LIST = 100_000
#: A run id, file path or digest is never longer than this.
SHORT = 1024


class Request(DeferredModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Fields that only say which calls are partial updates: the service is given just the
    #: fields the client sent, so that an absent field is "unchanged", not "null".
    partial: ClassVar[frozenset[str]] = frozenset()
    #: Fields whose service parameter has another name (``version`` -> ``selector``).
    renames: ClassVar[dict[str, str]] = {}

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise invalid_request(exc) from None

    @classmethod
    def parse(cls, data: object) -> Request:
        """``data`` (JSON-shaped) as this request.

        Raises:
            InvalidInputError: it breaks a rule of the model; ``details.problems`` says where.
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise invalid_request(exc) from None

    def service_args(self) -> dict[str, Any]:
        """The keyword arguments of the service method this request calls."""
        return {
            self.renames.get(name, name): getattr(self, name)
            for name in type(self).model_fields
            if name not in self.partial or name in self.model_fields_set
        }


class NoArgs(Request):
    pass


# -- runs ------------------------------------------------------------------------------------


class ProjectPath(Request):
    project: Project


class RunPath(Request):
    project: Project
    run_id: Name = Field(max_length=SHORT)


class RunCreate(Request):
    project: Project
    id: Name | None = Field(default=None, max_length=SHORT)
    name: Name | None = None
    config: JsonObject | None = None
    tags: Tags | None = None
    notes: Text | None = None
    job_type: Text | None = None
    group: Text | None = None
    resume: Literal["allow", "must", "never"] | None = None
    system: JsonObject | None = None
    started_at: float | None = None
    renames = {"id": "run_id"}


class RunUpdate(Request):
    partial = frozenset(
        {"config", "summary", "state", "exit_code", "tags", "notes", "metric_defs"}
    )
    project: Project
    run_id: Name = Field(max_length=SHORT)
    config: JsonObject | None = None
    summary: JsonObject | None = None
    #: The run's define_metric definitions, all of them (see contract/metric_defs.py).
    metric_defs: list[JsonObject] | None = Field(default=None, max_length=1000)
    state: Text | None = None
    #: A process's exit status: a 32-bit integer, as the runs table keeps it.
    exit_code: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    tags: Tags | None = None
    notes: Text | None = None


#: The most steps one page of a run's history holds (``scan_history(page_size=)``).
HISTORY_PAGE_MAX = 10_000


class HistoryQuery(Request):
    project: Project
    run_id: Name = Field(max_length=SHORT)
    keys: list[Text] | None = Field(default=None, max_length=10_000)
    max_points: Int64 | None = None
    #: "step", "time", or a metric key: the series along that metric (define_metric's
    #: step_metric), each point with its value there.
    x_axis: Text = Field(default="step", max_length=256)
    #: Steps from ``min_step`` up to, not including, ``max_step``.
    min_step: Int64 | None = None
    max_step: Int64 | None = None
    #: At most this many steps, and ``next_cursor`` to ask for the following ones.
    limit: int | None = Field(default=None, ge=1, le=HISTORY_PAGE_MAX)
    #: A page's ``next_cursor``: go on where it stopped (in place of ``min_step``).
    cursor: Text | None = Field(default=None, max_length=SHORT)


class RunArtifactsQuery(Request):
    project: Project
    run_id: Name = Field(max_length=SHORT)
    direction: Literal["logged", "used"] = "logged"


class HistoriesQuery(Request):
    runs: list[Text] = Field(max_length=1000)
    keys: list[Text] | None = Field(default=None, max_length=10_000)
    max_points: Int64 | None = None
    #: "step", "time", or a metric key: the series along that metric (define_metric's
    #: step_metric), each point with its value there.
    x_axis: Text = Field(default="step", max_length=256)


class SummariesQuery(Request):
    runs: list[Text] = Field(max_length=1000)


class HistoryPost(Request):
    """``{"points": [{"step", "time", "values"}]}``: parsed by the route itself, for speed."""

    project: Project
    run_id: Name = Field(max_length=SHORT)
    points: list[JsonObject] = Field(max_length=MAX_LIST)


# -- references --------------------------------------------------------------------------------


class RefQuery(Request):
    """Any reference form: ``project/name:alias``, ``registry-registry/name:vN``, ``models:/``."""

    ref: Text = Field(max_length=SHORT)

    def service_args(self) -> dict[str, Any]:
        return {"ref": parse_ref(self.ref)}


class Use(Request):
    """A reference a run uses; a bare ``name:alias`` is read in the run's ``project``."""

    ref: Text = Field(max_length=SHORT)
    project: Project | None = None
    run_id: Name | None = Field(default=None, max_length=SHORT)

    def service_args(self) -> dict[str, Any]:
        return {
            "ref": parse_ref(self.ref, default_project=self.project),
            "project": self.project,
            "run_id": self.run_id,
        }


class LineageQuery(Request):
    ref: Text | None = Field(default=None, max_length=SHORT)
    run: Text | None = Field(default=None, max_length=SHORT)
    depth: int = Field(default=2, ge=0, le=20)

    def service_args(self) -> dict[str, Any]:
        return {
            "ref": parse_ref(self.ref) if self.ref else None,
            "run": self.run,
            "depth": self.depth,
        }


class HistoryOfRef(Request):
    ref: Text = Field(max_length=SHORT)
    limit: int = Field(default=100, ge=1, le=10_000)
    before: Int64 | None = None

    def service_args(self) -> dict[str, Any]:
        return {"ref": parse_ref(self.ref), "limit": self.limit, "before": self.before}


# -- artifacts -------------------------------------------------------------------------------


class ArtifactsQuery(Request):
    project: Project
    type: Text | None = None

    renames = {"type": "type_"}


class ArtifactPath(Request):
    project: Project
    name: Name


class FileEntry(Request):
    path: FilePath
    sha256: Text = Field(max_length=64)
    size: Int64 = Field(ge=0)
    ref: Text | None = Field(default=None, max_length=4096)
    etag: Text | None = Field(default=None, max_length=SHORT)


class VersionCommit(Request):
    project: Project
    name: Name
    type: Name
    files: list[FileEntry] = Field(max_length=MAX_LIST)
    description: Text | None = None
    metadata: JsonObject | None = None
    aliases: list[Name] | None = None
    tags: Tags | None = None
    run_id: Name | None = Field(default=None, max_length=SHORT)

    renames = {"type": "type_"}

    def service_args(self) -> dict[str, Any]:
        args = super().service_args()
        args["files"] = [f.model_dump() for f in self.files]
        return args


class ArtifactVersionPath(Request):
    project: Project
    name: Name
    selector: Name

    def to_ref(self) -> ArtifactRef:
        return ArtifactRef(self.project, self.name, self.selector)

    def service_args(self) -> dict[str, Any]:
        return {"ref": self.to_ref()}


class VersionEdits(Request):
    """What an edit of a version may change; only the fields sent are changed."""

    partial = frozenset({"description", "metadata", "aliases", "tags"})
    description: Text | None = None
    metadata: JsonObject | None = None
    aliases: list[Name] | None = None
    tags: Tags | None = None


class ArtifactVersionUpdate(ArtifactVersionPath, VersionEdits):
    def service_args(self) -> dict[str, Any]:
        return {"ref": self.to_ref(), **_given(self, self.partial)}


class ArtifactAliasSet(Request):
    project: Project
    name: Name
    alias: Name
    version: Name
    renames = {"version": "selector"}


class ArtifactAliasPath(Request):
    project: Project
    name: Name
    alias: Name


# -- registries --------------------------------------------------------------------------------


class RegistryPath(Request):
    registry: Name

    def service_args(self) -> dict[str, Any]:
        return {"name": self.registry}


class RegistryCreate(Request):
    name: Name
    description: Text | None = None
    artifact_types: list[Text] | None = None
    visibility: Literal["organization", "restricted"] = "organization"


class CollectionsQuery(Request):
    registry: Name
    query: Text | None = None


class CollectionPath(Request):
    registry: Name
    collection: Name


class CollectionUpdate(CollectionPath):
    partial = frozenset({"description", "tags"})
    description: Text | None = None
    tags: Tags | None = None


class CollectionHistory(CollectionPath):
    limit: int = Field(default=100, ge=1, le=10_000)
    before: Int64 | None = None


class Link(CollectionPath):
    artifact: Text = Field(max_length=SHORT)
    aliases: list[Name] | None = None

    def service_args(self) -> dict[str, Any]:
        return {
            "source": parse_ref(self.artifact),
            "registry": self.registry,
            "collection": self.collection,
            "aliases": self.aliases,
        }


class VersionsPage(CollectionPath):
    limit: int = Field(default=1000, ge=1, le=10_000)
    page_token: Text | None = Field(default=None, max_length=SHORT)


class CollectionVersionPath(CollectionPath):
    selector: Name

    def to_ref(self) -> RegistryRef:
        return RegistryRef(self.registry, self.collection, self.selector)

    def service_args(self) -> dict[str, Any]:
        return {"ref": self.to_ref()}


class CollectionVersionUpdate(CollectionVersionPath, VersionEdits):
    def service_args(self) -> dict[str, Any]:
        return {"ref": self.to_ref(), **_given(self, self.partial)}


class CollectionVersionHistory(CollectionVersionPath):
    limit: int = Field(default=100, ge=1, le=10_000)
    before: Int64 | None = None

    def service_args(self) -> dict[str, Any]:
        return {"ref": self.to_ref(), "limit": self.limit, "before": self.before}


class CollectionAliasSet(CollectionPath):
    alias: Name
    version: Name
    renames = {"version": "selector"}


class CollectionAliasPath(CollectionPath):
    alias: Name


# -- access: members, teams, protected aliases, promotion requests ----------------------------

Role = Literal["admin", "member", "viewer", "restricted_viewer"]


class RegistryName(Request):
    registry: Text


class RegistryUpdate(Request):
    partial = frozenset({"description", "visibility", "artifact_types", "required_approvals"})
    registry: Text
    description: Text | None = None
    visibility: Literal["organization", "restricted"] | None = None
    artifact_types: list[Text] | None = None
    required_approvals: int | None = Field(default=None, ge=1, le=100)


class ProjectUpdate(Request):
    project: Text
    visibility: Literal["organization", "restricted"]


class RegistryMemberAdd(Request):
    registry: Text
    user: Text | None = None
    team: Text | None = None
    role: Role


class RegistryMember(Request):
    """A member named in the query string: ``?user=NAME`` or ``?team=NAME``."""

    registry: Text
    user: Text | None = None
    team: Text | None = None


class ProjectMemberAdd(Request):
    project: Text
    user: Text | None = None
    team: Text | None = None
    role: Role


class ProjectMember(Request):
    project: Text
    user: Text | None = None
    team: Text | None = None


class TeamCreate(Request):
    name: Text


class TeamMember(Request):
    team: Text
    user: Text


class TeamMemberAdd(TeamMember):
    #: ``admin`` (manages the team's members and its service accounts' keys) or ``member``;
    #: none: ``member`` for a new member, unchanged for one already in the team.
    role: Literal["admin", "member"] | None = None


class ProtectedAlias(Request):
    registry: Text
    pattern: Text


class PromotionCreate(CollectionVersionPath):
    alias: Text
    #: Needed when the promotion is a request (a protected alias, not the registry's admin).
    reason: Text | None = Field(default=None, max_length=4000)

    def service_args(self) -> dict[str, Any]:
        return {"ref": self.to_ref(), "alias": self.alias, "reason": self.reason}


class PromotionsQuery(Request):
    registry: Text
    state: Literal["pending", "approved", "rejected", "stale", "cancelled"] | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    before: Int64 | None = None


class PromotionPath(Request):
    request_id: Int64


class PromotionReview(Request):
    request_id: Int64
    comment: Text | None = Field(default=None, max_length=4000)


# -- blobs ---------------------------------------------------------------------------------------


class Digests(Request):
    digests: list[Text] = Field(max_length=MAX_LIST)


class BlobEntry(Request):
    sha256: Text | None = Field(default=None, max_length=64)  # None: a provisional session
    size: Int64
    id: Text | None = Field(default=None, max_length=SHORT)  # the provisional session to resume


class UploadFiles(Request):
    files: list[BlobEntry] = Field(max_length=MAX_LIST)

    def service_args(self) -> dict[str, Any]:
        return {"files": [f.model_dump(exclude_none=True) for f in self.files]}


class UploadIds(Request):
    ids: list[Text] = Field(max_length=MAX_LIST)
    #: Provisional sessions' digests, by id.
    sha256: dict[str, Text] | None = Field(default=None, max_length=MAX_LIST)
    renames = {"ids": "upload_ids"}


class UploadClaim(Request):
    upload_id: Text = Field(max_length=SHORT)
    sha256: Text | None = Field(default=None, max_length=64)  # a provisional session's digest


# -- users and administration -----------------------------------------------------------------


class UserCreate(Request):
    name: Name
    is_admin: bool = False


class GcRequest(Request):
    grace_seconds: float = Field(default=24 * 3600.0, ge=0, allow_inf_nan=False)
    dry_run: bool = False
    #: None: the server's default (a week).
    abandon_uploads_after: float | None = Field(default=None, ge=0, allow_inf_nan=False)


def invalid_request(exc: ValidationError) -> InvalidInputError:
    """A request model's refusal as the error every client knows."""
    problems = [
        {"loc": [str(p) for p in e.get("loc", ())], "message": str(e.get("msg", ""))}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    first = problems[0] if problems else {"loc": [], "message": "invalid request"}
    where = ".".join(first["loc"]) or "request"
    return InvalidInputError(
        f"invalid request: {where}: {first['message']}", {"problems": problems}
    )


def _given(request: Request, fields: frozenset[str]) -> dict[str, Any]:
    return {k: getattr(request, k) for k in fields if k in request.model_fields_set}


def version_path(ref: Ref) -> ArtifactVersionPath | CollectionVersionPath:
    """The path model that addresses ``ref``'s version."""
    if isinstance(ref, RegistryRef):
        return CollectionVersionPath(
            registry=ref.registry, collection=ref.collection, selector=ref.selector
        )
    return ArtifactVersionPath(project=ref.project, name=ref.name, selector=ref.selector)
