"""Request bodies. Unknown fields are refused, so that a typo is an error, not a no-op."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def given(self) -> dict[str, Any]:
        """The fields the client sent (null included), for partial updates."""
        return {k: getattr(self, k) for k in self.model_fields_set}


class RunCreate(Body):
    id: str | None = None
    name: str | None = None
    config: dict[str, Any] | None = None
    tags: list[str] | None = None
    notes: str | None = None
    job_type: str | None = None
    resume: Literal["allow", "must", "never"] | None = None
    system: dict[str, Any] | None = None


class RunUpdate(Body):
    config: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    state: str | None = None
    exit_code: int | None = None
    tags: list[str] | None = None
    notes: str | None = None


class Point(Body):
    step: int
    time: float | None = None
    values: dict[str, Any]


class HistoryPost(Body):
    points: list[Point] = Field(max_length=100_000)


class Digests(Body):
    digests: list[str] = Field(max_length=100_000)


class FileEntry(Body):
    path: str
    sha256: str
    size: int
    ref: str | None = None
    etag: str | None = None


class BlobEntry(Body):
    sha256: str | None = None  # None: a provisional session (see BlobService.begin_uploads)
    size: int
    id: str | None = None  # the provisional session to resume


class GcRequest(Body):
    grace_seconds: float = Field(default=24 * 3600.0, ge=0)
    dry_run: bool = False
    abandon_uploads_after: float | None = Field(default=None, ge=0)  # None: the server's week


class UploadIds(Body):
    ids: list[str] = Field(max_length=100_000)
    sha256: dict[str, str] | None = Field(default=None, max_length=100_000)  # provisional
    # sessions' digests, by id


class UploadClaim(Body):
    sha256: str | None = None  # a provisional session's digest


class UploadFiles(Body):
    files: list[BlobEntry] = Field(max_length=100_000)


class VersionCommit(Body):
    type: str
    files: list[FileEntry]
    description: str | None = None
    metadata: dict[str, Any] | None = None
    aliases: list[str] | None = None
    tags: list[str] | None = None
    run_id: str | None = None


class VersionUpdate(Body):
    description: str | None = None
    metadata: dict[str, Any] | None = None
    aliases: list[str] | None = None
    tags: list[str] | None = None


class AliasSet(Body):
    version: str


class Link(Body):
    artifact: str
    aliases: list[str] | None = None


class RegistryCreate(Body):
    name: str
    description: str | None = None
    artifact_types: list[str] | None = None


class CollectionUpdate(Body):
    description: str | None = None
    tags: list[str] | None = None


class Use(Body):
    ref: str
    project: str | None = None
    run_id: str | None = None


class UserCreate(Body):
    name: str
    is_admin: bool = False
