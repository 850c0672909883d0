"""Deleting and renaming runs, project artifacts and registry collections (issue #17):
W&B's ``Run.delete``, ``ArtifactCollection.delete`` and ``collection.name = ...; save()``.

Declared in their own area (listed in ``operations.AREAS``) with their requests and
responses; the rules are in :mod:`modelbay.services.lifecycle`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from modelbay.contract import entities as e
from modelbay.contract.declaration import Access, Operation, Role
from modelbay.contract.requests import (
    ArtifactPath,
    ArtifactVersionPath,
    CollectionPath,
    Name,
    RunPath,
)


class RunDelete(RunPath):
    #: Also delete the artifact versions the run logged (W&B's ``delete_artifacts``).
    delete_artifacts: bool = False


class ArtifactRename(ArtifactPath):
    new_name: Name


class CollectionRename(CollectionPath):
    new_name: Name


class ArtifactTtl(ArtifactVersionPath):
    #: Seconds from the version's creation after which gc deletes it; None: never.
    ttl: float | None = Field(ge=0)

    def service_args(self) -> dict[str, Any]:
        return {"ref": self.to_ref(), "ttl": self.ttl}


class RenamedArtifact(e.Entity):
    project: str
    name: str
    type: str


class RenamedCollection(e.Entity):
    registry: str
    name: str
    type: str


RUN = "/projects/{project}/runs/{run_id}"
ARTIFACT = "/projects/{project}/artifacts/{name}"
COLLECTION = "/registries/{registry}/collections/{collection}"

DELETE_RUN = Operation(
    "delete_run",
    "DELETE",
    RUN,
    RunDelete,
    e.Empty,
    service="lifecycle.delete_run",
    access=Access.USER,
    role=Role.ADMIN,
    errors=(403, 404, 409),
    tag="runs",
    summary="Delete a run, its history and files (and, if asked, the versions it logged).",
)
DELETE_ARTIFACT = Operation(
    "delete_artifact",
    "DELETE",
    ARTIFACT,
    ArtifactPath,
    e.Empty,
    service="lifecycle.delete_artifact",
    access=Access.USER,
    role=Role.ADMIN,
    errors=(403, 404, 409),
    tag="artifacts",
    summary="Delete every version of a project artifact (refused while one is linked).",
)
RENAME_ARTIFACT = Operation(
    "rename_artifact",
    "POST",
    ARTIFACT + "/rename",
    ArtifactRename,
    RenamedArtifact,
    service="lifecycle.rename_artifact",
    access=Access.USER,
    role=Role.MEMBER,
    errors=(403, 404, 409),
    tag="artifacts",
    summary="Rename a project artifact; its versions, aliases and links follow.",
)
DELETE_COLLECTION = Operation(
    "delete_collection",
    "DELETE",
    COLLECTION,
    CollectionPath,
    e.Empty,
    service="lifecycle.delete_collection",
    access=Access.USER,
    role=Role.ADMIN,
    errors=(403, 404),
    tag="registries",
    summary="Delete a collection; the versions it linked stay in their projects.",
)
RENAME_COLLECTION = Operation(
    "rename_collection",
    "POST",
    COLLECTION + "/rename",
    CollectionRename,
    RenamedCollection,
    service="lifecycle.rename_collection",
    access=Access.USER,
    role=Role.MEMBER,
    errors=(403, 404, 409),
    tag="registries",
    summary="Rename a collection (admins only while it holds a protected alias).",
)
SET_ARTIFACT_TTL = Operation(
    "set_artifact_ttl",
    "PUT",
    ARTIFACT + "/versions/{selector}/ttl",
    ArtifactTtl,
    e.Version,
    service="lifecycle.set_ttl",
    access=Access.USER,
    role=Role.MEMBER,
    errors=(403, 404, 409),
    tag="artifacts",
    summary="Set or remove a version's TTL (seconds from its creation; gc deletes it after).",
)
