"""The metadata tables (SQLAlchemy Core). Migrations in ``migrations/`` create and evolve them.

Times are seconds since the epoch (double precision). Version numbers come from counters on
the parent row (``artifacts.next_version``, ``collections.next_version``), bumped under the
parent's row lock, and are guarded by unique constraints.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id() -> sa.Column[int]:
    return sa.Column("id", Id, primary_key=True, autoincrement=True)


def _fk(
    name: str, target: str, *, nullable: bool = False, ondelete: str | None = None
) -> sa.Column[int]:
    return sa.Column(name, Id, sa.ForeignKey(target, ondelete=ondelete), nullable=nullable)


users = sa.Table(
    "users",
    metadata,
    _id(),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("password_hash", sa.String(256)),
    # A service account (no password, for CI) belongs to a team, whose admins manage its
    # keys. No foreign key: adding one would rebuild this table on SQLite.
    sa.Column("owner_team_id", Id),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    _id(),
    _fk("user_id", "users.id", ondelete="CASCADE"),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("description", sa.String(256)),
    sa.Column("created_at", sa.Float, nullable=False),
    # A key past ``expires_at`` or with ``revoked_at`` set authenticates nobody.
    sa.Column("expires_at", sa.Float),
    sa.Column("revoked_at", sa.Float),
    sa.Index(None, "user_id"),
)

# One row (id 1) whose generation every revoke bumps in its own transaction: a process may
# keep what a key authenticates while the generation it read with it is still current.
credential_generation = sa.Table(
    "credential_generation",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("generation", sa.BigInteger, nullable=False),
)

projects = sa.Table(
    "projects",
    metadata,
    _id(),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    # organization: every user reads it; restricted: its members only.
    sa.Column("visibility", sa.String(16), nullable=False, server_default="organization"),
    # Whoever created the project is its admin.
    _fk("created_by", "users.id", nullable=True),
)

runs = sa.Table(
    "runs",
    metadata,
    _id(),
    _fk("project_id", "projects.id"),
    sa.Column("run_id", sa.String(128), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("notes", sa.Text),
    sa.Column("job_type", sa.String(128)),
    # W&B's ``init(group=...)``: runs are listed and filtered by it within a project.
    sa.Column("group", sa.String(128)),
    sa.Column("system", sa.JSON, nullable=False),
    _fk("user_id", "users.id"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("exit_code", sa.Integer),
    # When the run's process last sent anything; a running run silent for longer than the
    # run timeout is crashed (found through the index below without a scan).
    sa.Column("heartbeat_at", sa.Float),
    # The run's define_metric definitions, in the order made (a glob's order decides which
    # applies): [{"name", "step_metric", "step_sync", "hidden", "summary", "goal"}].
    sa.Column("metric_defs", sa.JSON, nullable=False, server_default="[]"),
    sa.UniqueConstraint("project_id", "run_id"),
    sa.Index(None, "state", "heartbeat_at"),
    # A project's runs are listed in creation order, and filtered by group or job type.
    sa.Index(None, "project_id", "created_at", "id"),
    sa.Index(None, "project_id", "group"),
    sa.Index(None, "project_id", "job_type"),
)

metrics = sa.Table(
    "metrics",
    metadata,
    _fk("run_pk", "runs.id", ondelete="CASCADE"),
    sa.Column("key", sa.String(256), nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("time", sa.Float, nullable=False),
    sa.PrimaryKeyConstraint("run_pk", "key", "step"),
)

# History values that are not numbers: W&B's ``{"_type": "table-file" | "image-file" |
# "histogram", ...}`` references, as JSON text, one per (run, key, step).
history_media = sa.Table(
    "history_media",
    metadata,
    _fk("run_pk", "runs.id", ondelete="CASCADE"),
    sa.Column("key", sa.String(256), nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("time", sa.Float, nullable=False),
    sa.PrimaryKeyConstraint("run_pk", "key", "step"),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    _id(),
    _fk("project_id", "projects.id"),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("type", sa.String(128), nullable=False),
    sa.Column("next_version", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=False),
    # W&B's ArtifactCollection.delete(): the artifact is gone from listings until a version
    # of that name is logged again (its numbers go on, so no reference is ever reused).
    sa.Column("deleted_at", sa.Float),
    sa.UniqueConstraint("project_id", "name"),
)

artifact_versions = sa.Table(
    "artifact_versions",
    metadata,
    _id(),
    _fk("artifact_id", "artifacts.id"),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("file_count", sa.Integer, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("metadata", sa.JSON, nullable=False),
    _fk("run_pk", "runs.id", nullable=True),
    _fk("user_id", "users.id"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("deleted_at", sa.Float),
    # W&B's TTL: the version is deleted by the first gc after this time (created_at + ttl).
    sa.Column("expires_at", sa.Float),
    sa.UniqueConstraint("artifact_id", "version"),
    sa.Index(None, "artifact_id", "digest"),
    sa.Index(None, "expires_at"),
)

# PostgreSQL: ``metadata.<path>`` equality filters (``$eq``, ``$in``) add a containment test
# (``metadata::jsonb @> {...}``) that this index answers; SQLite has no index over any JSON
# path, so there they read the versions the other conditions leave.
METADATA_INDEX = "ix_artifact_versions_metadata_jsonb"
sa.Index(
    METADATA_INDEX,
    sa.cast(artifact_versions.c.metadata, postgresql.JSONB).label("metadata_jsonb"),
    postgresql_using="gin",
    postgresql_ops={"metadata_jsonb": "jsonb_path_ops"},
).ddl_if(dialect="postgresql")

files = sa.Table(
    "files",
    metadata,
    _fk("version_id", "artifact_versions.id", ondelete="CASCADE"),
    sa.Column("path", sa.String(1024), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    # A reference (s3://, file://, http(s)://) is tracked by checksum, its bytes not stored.
    sa.Column("ref", sa.String(2048)),
    sa.Column("etag", sa.String(256)),
    sa.PrimaryKeyConstraint("version_id", "path"),
    sa.Index(None, "sha256"),
)

# A distributed artifact's version being built by several runs (W&B's ``upsert_artifact``),
# keyed by its ``distributed_id``; ``finish_artifact`` commits it as a version.
distributed_drafts = sa.Table(
    "distributed_drafts",
    metadata,
    _id(),
    _fk("project_id", "projects.id"),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("type", sa.String(128), nullable=False),
    sa.Column("distributed_id", sa.String(128), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # open | finishing | finished
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("version_id", Id),
    sa.UniqueConstraint("project_id", "name", "distributed_id"),
)

distributed_files = sa.Table(
    "distributed_files",
    metadata,
    _fk("draft_id", "distributed_drafts.id", ondelete="CASCADE"),
    sa.Column("path", sa.String(1024), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("ref", sa.String(2048)),
    sa.Column("etag", sa.String(256)),
    sa.PrimaryKeyConstraint("draft_id", "path"),
    sa.Index(None, "sha256"),
)

artifact_aliases = sa.Table(
    "artifact_aliases",
    metadata,
    _fk("artifact_id", "artifacts.id"),
    sa.Column("alias", sa.String(128), nullable=False),
    _fk("version_id", "artifact_versions.id"),
    sa.PrimaryKeyConstraint("artifact_id", "alias"),
    sa.Index(None, "version_id"),
)

registries = sa.Table(
    "registries",
    metadata,
    _id(),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("description", sa.Text),
    sa.Column("artifact_types", sa.JSON),
    sa.Column("visibility", sa.String(16), nullable=False, default="organization"),
    sa.Column("created_at", sa.Float, nullable=False),
    # How many registry admins must approve a promotion request before the alias moves.
    sa.Column("required_approvals", sa.Integer, nullable=False, server_default="1"),
)

collections = sa.Table(
    "collections",
    metadata,
    _id(),
    _fk("registry_id", "registries.id"),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("type", sa.String(128), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("next_version", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.UniqueConstraint("registry_id", "name"),
)

links = sa.Table(
    "links",
    metadata,
    _id(),
    _fk("collection_id", "collections.id"),
    sa.Column("version", sa.Integer, nullable=False),
    _fk("artifact_version_id", "artifact_versions.id"),
    _fk("user_id", "users.id"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("collection_id", "version"),
    sa.UniqueConstraint("collection_id", "artifact_version_id"),
    sa.Index(None, "artifact_version_id"),
)

collection_aliases = sa.Table(
    "collection_aliases",
    metadata,
    _fk("collection_id", "collections.id"),
    sa.Column("alias", sa.String(128), nullable=False),
    _fk("link_id", "links.id"),
    sa.PrimaryKeyConstraint("collection_id", "alias"),
    sa.Index(None, "link_id"),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("target_id", Id, nullable=False),
    sa.Column("tag", sa.String(256), nullable=False),
    sa.PrimaryKeyConstraint("kind", "target_id", "tag"),
    sa.Index(None, "tag"),
)

lineage = sa.Table(
    "lineage",
    metadata,
    _fk("run_pk", "runs.id"),
    _fk("version_id", "artifact_versions.id"),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.PrimaryKeyConstraint("run_pk", "version_id", "direction"),
    sa.Index(None, "version_id"),
)

events = sa.Table(
    "events",
    metadata,
    _id(),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(512), nullable=False),
    sa.Column("registry_id", Id),
    sa.Column("collection_id", Id),
    sa.Column("link_id", Id),
    sa.Column("project_id", Id),
    sa.Column("artifact_id", Id),
    sa.Column("version_id", Id),
    sa.Column("run_pk", Id),
    sa.Column("before", sa.JSON),
    sa.Column("after", sa.JSON),
    sa.Index(None, "collection_id", "id"),
    sa.Index(None, "version_id", "id"),
    sa.Index(None, "link_id", "id"),
    sa.Index(None, "artifact_id", "id"),
    # The organization's audit log pages by id, filtered by actor or action.
    sa.Index(None, "actor", "id"),
    sa.Index(None, "action", "id"),
)

# Stored bytes: a row exists only once the bytes are stored and verified under their digest.
# Garbage collection marks a row 'deleting' before it removes the bytes. ``object_key`` is
# where an object store keeps them (the key of the upload that brought them, relative to the
# store's prefix); None: under the digest's own name (the disk store, and older blobs).
blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("stored_at", sa.Float, nullable=False),
    sa.Column("object_key", sa.String(1024)),
    sa.Index(None, "stored_at", "sha256"),  # garbage collection walks blobs by age
)

# Upload sessions: a large file goes up in parts, possibly over several attempts. A session
# opened before its client knew the digest (the client hashes while it sends) has none until
# it is completed.
uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("sha256", sa.String(64)),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("part_size", sa.BigInteger, nullable=False),
    sa.Column("backend_id", sa.String(1024)),
    sa.Column("state", sa.String(16), nullable=False),
    _fk("user_id", "users.id"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("claimed_at", sa.Float),
    sa.Index(None, "sha256", "state"),
)

# -- access: teams, memberships, protected aliases, promotion requests ---------------------

teams = sa.Table(
    "teams",
    metadata,
    _id(),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

team_members = sa.Table(
    "team_members",
    metadata,
    _fk("team_id", "teams.id", ondelete="CASCADE"),
    _fk("user_id", "users.id", ondelete="CASCADE"),
    # "admin" (a maintainer: manages the team's members and its service accounts' keys) or
    # "member".
    sa.Column("role", sa.String(16), nullable=False, server_default="member"),
    sa.PrimaryKeyConstraint("team_id", "user_id"),
    sa.Index(None, "user_id"),
)

# A user or a team holding a role (admin, member, viewer, restricted_viewer) in one registry
# or one project: exactly one of registry_id/project_id and one of user_id/team_id is set.
memberships = sa.Table(
    "memberships",
    metadata,
    _id(),
    _fk("registry_id", "registries.id", nullable=True, ondelete="CASCADE"),
    _fk("project_id", "projects.id", nullable=True, ondelete="CASCADE"),
    _fk("user_id", "users.id", nullable=True, ondelete="CASCADE"),
    _fk("team_id", "teams.id", nullable=True, ondelete="CASCADE"),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("registry_id", "user_id"),
    sa.UniqueConstraint("registry_id", "team_id"),
    sa.UniqueConstraint("project_id", "user_id"),
    sa.UniqueConstraint("project_id", "team_id"),
    sa.Index(None, "user_id"),
    sa.Index(None, "team_id"),
    sa.CheckConstraint(
        "(registry_id IS NULL) <> (project_id IS NULL) AND (user_id IS NULL) <> (team_id IS NULL)",
        name="one_target_one_member",
    ),
)

# Alias names or globs (``prod-*``) of a registry that only its admins may add, move or remove.
protected_aliases = sa.Table(
    "protected_aliases",
    metadata,
    _fk("registry_id", "registries.id", ondelete="CASCADE"),
    sa.Column("pattern", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.PrimaryKeyConstraint("registry_id", "pattern"),
)

# A member's request that a protected alias point at a registry version. ``holder_link_id``
# is the link that held the alias when the request was made: if it moved since, the request
# is stale. ``link_id`` has no foreign key: an unlinked version leaves its requests stale.
promotion_requests = sa.Table(
    "promotion_requests",
    metadata,
    _id(),
    _fk("registry_id", "registries.id", ondelete="CASCADE"),
    _fk("collection_id", "collections.id", ondelete="CASCADE"),
    sa.Column("link_id", Id, nullable=False),
    sa.Column("link_index", sa.Integer, nullable=False),
    sa.Column("alias", sa.String(128), nullable=False),
    sa.Column("holder_link_id", Id),
    sa.Column("reason", sa.Text, nullable=False),
    _fk("user_id", "users.id"),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("decided_at", sa.Float),
    sa.Index(None, "registry_id", "state", "id"),
    sa.Index(None, "collection_id", "alias", "state"),
)

promotion_reviews = sa.Table(
    "promotion_reviews",
    metadata,
    _fk("request_id", "promotion_requests.id", ondelete="CASCADE"),
    _fk("user_id", "users.id"),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.PrimaryKeyConstraint("request_id", "user_id"),
)

# -- automations: what to do when an event matches, and the outbox of its deliveries -------

# An automation: a scope (a registry, a collection or a project), an event type (the
# ``events.action`` it reacts to, e.g. ``alias.added``; ``run.metric`` for a metric
# threshold), optional filters, and an action (webhook, slack or job). ``secrets`` is
# write-only: never returned once saved. Matched in the transaction of each event through
# the index below, so an event with no automation in its scope costs one index probe.
automations = sa.Table(
    "automations",
    metadata,
    _id(),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("scope_kind", sa.String(16), nullable=False),  # registry|collection|project
    sa.Column("scope_id", Id, nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("alias_regex", sa.String(256)),
    sa.Column("tag_regex", sa.String(256)),
    # Run metric threshold: the aggregate (avg|min|max) of the last ``metric_window`` values
    # of ``metric`` compared (``>``, ``>=``, ``<``, ``<=``, ``==``, ``!=``) with the value.
    sa.Column("metric", sa.String(256)),
    sa.Column("metric_window", sa.Integer),
    sa.Column("metric_agg", sa.String(8)),
    sa.Column("metric_op", sa.String(4)),
    sa.Column("metric_value", sa.Float),
    sa.Column("action_kind", sa.String(16), nullable=False),  # webhook|slack|job
    # url, headers, template (webhook); url (slack); queue (job).
    sa.Column("action_config", sa.JSON, nullable=False),
    sa.Column("secrets", sa.JSON, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("disabled_reason", sa.Text),
    # The most deliveries of this automation in flight at once.
    sa.Column("concurrency", sa.Integer, nullable=False, server_default="4"),
    _fk("created_by", "users.id", nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index(None, "event_type", "scope_kind", "scope_id"),
)

# One message to send (or job to run) for one event and one automation: the outbox row,
# written in the event's transaction. ``message_id`` is the Standard Webhooks ``webhook-id``,
# the same on every retry. ``payload`` freezes the event's data at the first attempt, so
# that retries send the same body. A claim sets ``lease_until``/``leased_by``; a lease that
# expires (its holder died) makes the row claimable again. Job deliveries
# (``action_kind='job'``) are claimed by agents of their ``queue``, never by the HTTP
# dispatcher. ``event_id`` is null for a test delivery.
deliveries = sa.Table(
    "deliveries",
    metadata,
    _id(),
    _fk("automation_id", "automations.id", ondelete="CASCADE"),
    sa.Column("event_id", Id),
    sa.Column("message_id", sa.String(64), nullable=False, unique=True),
    sa.Column("action_kind", sa.String(16), nullable=False),
    sa.Column("queue", sa.String(128)),
    sa.Column("state", sa.String(16), nullable=False),  # pending|succeeded|failed|dead
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("lease_until", sa.Float),
    sa.Column("leased_by", sa.String(128)),
    sa.Column("payload", sa.JSON),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index(None, "state", "action_kind", "next_attempt_at"),
    sa.Index(None, "queue", "state", "next_attempt_at"),
    sa.Index(None, "automation_id", "id"),
)

# Every attempt of a delivery: the request sent (secrets redacted), the answer's status and
# the head of its body, latency, error; for a job, its exit code, duration and output tail.
delivery_attempts = sa.Table(
    "delivery_attempts",
    metadata,
    _id(),
    _fk("delivery_id", "deliveries.id", ondelete="CASCADE"),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("request", sa.JSON),
    sa.Column("status_code", sa.Integer),
    sa.Column("response_head", sa.Text),
    sa.Column("latency_ms", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("exit_code", sa.Integer),
    sa.Column("duration", sa.Float),
    sa.Column("output_tail", sa.Text),
    sa.Index(None, "delivery_id", "id"),
)

# -- accounts: web sessions, one-time sign-in links, failed sign-ins -----------------------
# In the database so that every worker and replica agrees on them.

# A signed-in browser: the cookie holds a random token whose sha256 is ``id``; signing out
# deletes the row, so a copied cookie stops working.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    _fk("user_id", "users.id", ondelete="CASCADE"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index(None, "user_id"),
    sa.Index(None, "expires_at"),
)

# A one-time sign-in link (sha256 of its token): deleted when used.
login_links = sa.Table(
    "login_links",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    _fk("user_id", "users.id", ondelete="CASCADE"),
    sa.Column("expires_at", sa.Float, nullable=False),
)

# Failed sign-ins per key (``user:<name>``, ``client:<address>``) since ``first_at``.
sign_in_failures = sa.Table(
    "sign_in_failures",
    metadata,
    sa.Column("key", sa.String(320), primary_key=True),
    sa.Column("first_at", sa.Float, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
)
