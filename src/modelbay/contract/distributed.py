"""Distributed artifacts (issue #17): W&B's ``run.upsert_artifact`` and
``run.finish_artifact``, declared in their own area (listed in ``operations.AREAS``).

Several runs add files to one version keyed by a ``distributed_id``; the rules are in
:mod:`modelbay.services.distributed`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from modelbay.contract import entities as e
from modelbay.contract.declaration import Access, Operation, Role
from modelbay.contract.fields import JsonObject, Text
from modelbay.contract.requests import MAX_LIST, SHORT, FileEntry, Name, Project, Request

#: A draft's manifest, as a commit's: up to a million files in one request.
MAX_MANIFEST_BYTES = 256 << 20


class DistributedUpsert(Request):
    project: Project
    name: Name
    distributed_id: Name
    type: Name
    files: list[FileEntry] = Field(max_length=MAX_LIST)
    run_id: Name | None = Field(default=None, max_length=SHORT)

    renames = {"type": "type_"}

    def service_args(self) -> dict[str, Any]:
        args = super().service_args()
        args["files"] = [f.model_dump() for f in self.files]
        return args


class DistributedFinish(DistributedUpsert):
    aliases: list[Name] | None = None
    description: Text | None = None
    metadata: JsonObject | None = None


class DistributedDraft(e.Entity):
    """An unfinished version of a distributed artifact: how many files it holds so far."""

    project: str
    name: str
    type: str
    distributed_id: str
    state: str
    file_count: int


DRAFT = "/projects/{project}/artifacts/{name}/distributed/{distributed_id}"

UPSERT_ARTIFACT = Operation(
    "upsert_artifact",
    "POST",
    DRAFT,
    DistributedUpsert,
    DistributedDraft,
    service="distributed.upsert",
    access=Access.USER,
    role=Role.MEMBER,
    errors=(403, 404, 409),
    tag="artifacts",
    max_body=MAX_MANIFEST_BYTES,
    summary="Add stored files to a distributed artifact's unfinished version.",
)
FINISH_ARTIFACT = Operation(
    "finish_artifact",
    "POST",
    DRAFT + "/finish",
    DistributedFinish,
    e.Version,
    service="distributed.finish",
    access=Access.USER,
    role=Role.MEMBER,
    errors=(403, 404, 409),
    creates=True,
    tag="artifacts",
    max_body=MAX_MANIFEST_BYTES,
    summary="Commit a distributed artifact's version from its upserted files.",
)
