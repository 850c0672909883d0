"""What operations return: the typed entities the SDK, the CLI and the server share.

Clients read them tolerantly (a field a newer server adds is kept, not refused); the
server's OpenAPI spec gives each response its schema from these classes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from modelbay.contract.deferred import DeferredModel

JSON = dict[str, Any]


class Entity(DeferredModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Empty(Entity):
    """No content: the operation answers 204."""


class Whoami(Entity):
    user: str
    is_admin: bool


class UserCreated(Entity):
    user: str
    is_admin: bool
    #: The new user's first API key, shown this once.
    key: str


class RunRef(Entity):
    project: str
    id: str


class LinkPart(Entity):
    """Where a registry version sits: its collection, number and the collection's aliases."""

    id: int
    registry: str
    collection: str
    version: str
    index: int
    ref: str
    aliases: list[str]
    linked_at: float
    linked_by: str | None


class Version(Entity):
    """An artifact version; reached through a registry, it also has its ``link``."""

    id: int
    project: str
    name: str
    type: str
    version: str
    index: int
    ref: str
    digest: str
    size: int
    file_count: int
    description: str | None
    metadata: JSON
    aliases: list[str]
    tags: list[str]
    created_at: float
    created_by: str | None
    run: RunRef | None
    deleted: bool
    #: Seconds from ``created_at`` after which gc deletes it (W&B's TTL); None: never.
    ttl: float | None = None
    link: LinkPart | None = None
    #: Set by commit and link: False when it returned what existed already.
    created: bool | None = None


class FileEntry(Entity):
    path: str
    sha256: str
    size: int
    ref: str | None = None
    etag: str | None = None


class Files(Entity):
    files: list[FileEntry]


class Run(Entity):
    id: str
    project: str
    name: str | None
    state: str
    config: JSON | None
    summary: JSON | None
    tags: list[str] | None
    notes: str | None
    job_type: str | None
    system: JSON | None
    user: str | None
    created_at: float
    updated_at: float | None
    finished_at: float | None
    exit_code: int | None
    path: str
    #: The highest step logged (None before the first point); on one run's read, not in
    #: a project's listing.
    last_step: int | None = None
    #: Its define_metric definitions, in the order made (see contract/metric_defs.py).
    metric_defs: list[JSON] = []
    #: W&B's run group (``init(group=...)``).
    group: str | None = None


class Runs(Entity):
    runs: list[Run]


class RunSummary(Run):
    """A run as the compare table shows it: its info plus its metric keys and last step."""

    keys: list[str] = []


class Summaries(Entity):
    runs: list[RunSummary]


class History(Entity):
    """One run's points: ``{key: [[step, value, time], ...]}`` (values may be NaN)."""

    run: str
    history: dict[str, list[list[Any]]]
    #: Where the next page starts, when the request had a ``limit`` and steps remain.
    next_cursor: str | None = None


class Histories(Entity):
    runs: dict[str, dict[str, list[list[Any]]]]


class Stored(Entity):
    stored: int


class Artifact(Entity):
    project: str
    name: str
    type: str
    #: Live versions (deleted ones not counted).
    version_count: int
    created_at: float
    #: When its newest live version was made; None when it has none.
    updated_at: float | None


class Artifacts(Entity):
    artifacts: list[Artifact]


class Versions(Entity):
    versions: list[Version]


class VersionPage(Entity):
    versions: list[Version]
    next_page_token: str | None = None


class Registry(Entity):
    name: str
    description: str | None
    artifact_types: list[str] | None
    visibility: str
    created_at: float
    collection_count: int | None = None
    required_approvals: int = 1
    #: Given for one registry: its protected aliases and the caller's role in it.
    protected_aliases: list[str] | None = None
    role: str | None = None


class Registries(Entity):
    registries: list[Registry]


class Collection(Entity):
    registry: str
    name: str
    type: str
    description: str | None
    tags: list[str]
    version_count: int | None = None
    created_at: float
    updated_at: float | None
    ref: str
    #: alias -> "vN", on a single collection's read.
    aliases: dict[str, str] | None = None


class Collections(Entity):
    collections: list[Collection]


class Event(Entity):
    id: int
    time: float
    actor: str
    action: str
    subject: str
    before: JSON | None
    after: JSON | None


class Events(Entity):
    events: list[Event]


class VersionNode(Version):
    """A version in a lineage graph, with the registry versions it is linked as."""

    kind: Literal["artifact"]
    #: ``artifact:<ref>``, what edges name it by.
    node: str
    links: list[str]


class RunNode(Run):
    kind: Literal["run"]
    #: ``run:<project>/<id>``, what edges name it by.
    node: str


class Lineage(Entity):
    """Nodes and edges around a version or a run; each edge is ``{"from", "to", "kind"}``
    (``logged`` or ``used``), from producer to consumer."""

    root: str | None
    nodes: list[Annotated[VersionNode | RunNode, Field(discriminator="kind")]]
    edges: list[dict[str, str]]


class Missing(Entity):
    missing: list[str]


class UploadPart(Entity):
    number: int
    offset: int
    size: int
    done: bool = False
    url: str | None = None
    method: str | None = None
    headers: dict[str, str] | None = None


class UploadSession(Entity):
    id: str | None
    sha256: str | None
    size: int
    part_size: int | None = None
    parts: list[UploadPart] = []


class UploadPlan(Entity):
    """How to send each missing blob (see BlobService.begin_uploads)."""

    present: list[str]
    uploads: list[UploadSession]
    provisional: list[UploadSession] = []


class UploadResult(Entity):
    """A completed session's blob, or ``error`` (the error shape's body) where it failed."""

    id: str | None = None
    sha256: str | None = None
    size: int | None = None
    stored: bool | None = None
    error: JSON | None = None


class UploadResults(Entity):
    results: list[UploadResult]


class Location(Entity):
    url: str | None
    size: int


class Locations(Entity):
    locations: dict[str, Location]


class GcResult(Entity):
    dry_run: bool
    #: Versions deleted because their TTL had passed.
    expired: int = 0
    removed: int
    freed_bytes: int
    aborted_uploads: int
    aborted_upload_bytes: int
    remaining: JSON
    seconds: float


# -- the hand-written byte routes (server/api/blobs.py, users.py) ----------------------------


class BlobStored(Entity):
    """A whole blob sent: ``stored`` is False (and the status 200) when it was there already."""

    sha256: str
    stored: bool
    size: int | None = None


class PartStored(Entity):
    id: str
    number: int
    size: int


class BundleStored(Entity):
    #: Blobs in the bundle, and how many of them were new.
    blobs: int
    stored: int


class Health(Entity):
    status: str


class Readiness(Entity):
    """``ready``, or ``unavailable`` with the checks that failed (``database``,
    ``blob_store``)."""

    status: str
    failed: list[str]


# -- access ------------------------------------------------------------------------------


class Member(Entity):
    """A user or team holding a role in a registry or project."""

    kind: str
    name: str
    role: str
    created_at: float


class Members(Entity):
    members: list[Member]


class Team(Entity):
    name: str
    #: Every member's name, its admins included.
    members: list[str]
    #: The members who manage the team's members and its service accounts' keys.
    admins: list[str] = []
    created_at: float


class Teams(Entity):
    teams: list[Team]


class ProtectedAliases(Entity):
    #: Alias names and globs (``prod-*``) only the registry's admins may add, move or remove.
    protected_aliases: list[str]


class Project(Entity):
    name: str
    visibility: str
    created_at: float
    created_by: str | None
    #: The caller's role in it.
    role: str | None


class Review(Entity):
    user: str
    decision: str
    comment: str | None
    created_at: float


class Promotion(Entity):
    """A request that a protected alias point at a registry version."""

    id: int
    registry: str
    collection: str
    version: str
    ref: str
    alias: str
    reason: str
    requester: str
    #: pending, approved, rejected, stale (the alias moved meanwhile) or cancelled.
    state: str
    created_at: float
    decided_at: float | None
    required_approvals: int
    reviews: list[Review]


class Promotions(Entity):
    requests: list[Promotion]
