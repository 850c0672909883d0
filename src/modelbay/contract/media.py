"""Media in run histories: the W&B references (``table-file``, ``image-file``,
``histogram``) a run logged at each step, beside its numeric metrics."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from modelbay.contract.declaration import Access, Operation, Role
from modelbay.contract.entities import Entity
from modelbay.contract.fields import Text
from modelbay.contract.requests import SHORT, Name, Project, Request


class MediaQuery(Request):
    project: Project
    run_id: Name = Field(max_length=SHORT)
    keys: list[Text] | None = Field(default=None, max_length=10_000)


class MediaHistory(Entity):
    """One run's media values: ``{key: [[step, value, time], ...]}``, each value W&B's
    ``{"_type": ..., ...}`` object."""

    run: str
    media: dict[str, list[list[Any]]]


RUN_MEDIA = Operation(
    "run_media",
    "GET",
    "/projects/{project}/runs/{run_id}/media",
    MediaQuery,
    MediaHistory,
    service="runs.media",
    access=Access.USER,
    errors=(404,),
    tag="runs",
    role=Role.RESTRICTED_VIEWER,
    summary="The tables, images and histograms a run logged, per step (W&B's references).",
)
