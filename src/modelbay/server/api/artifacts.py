"""/projects/{project}/artifacts: commit versions, list, read, edit, alias, delete."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from modelbay.names import ArtifactRef, check_name, check_project
from modelbay.server.api.bodies import AliasSet, VersionCommit, VersionUpdate
from modelbay.server.api.deps import Svc, Who, read, write
from modelbay.server.app import json_response

router = APIRouter(prefix="/projects/{project}/artifacts", tags=["artifacts"])


def _ref(project: str, name: str, selector: str) -> ArtifactRef:
    return ArtifactRef(
        check_project(project), check_name(name, "artifact"), check_name(selector, "version")
    )


@router.get("")
def list_artifacts(project: str, svc: Svc, who: Who, type: str | None = None) -> Response:
    return json_response({"artifacts": svc.artifacts.list_artifacts(who, project, type)})


@router.post("/{name}/versions")
async def commit_version(
    project: str, name: str, body: VersionCommit, svc: Svc, who: Who
) -> Response:
    info, created = await write(
        svc,
        svc.artifacts.commit_version,
        who,
        project,
        name,
        body.type,
        [f.model_dump() for f in body.files],
        description=body.description,
        metadata=body.metadata,
        aliases=body.aliases,
        tags=body.tags,
        run_id=body.run_id,
    )
    return json_response(info, 201 if created else 200)


@router.get("/{name}/versions")
def list_versions(project: str, name: str, svc: Svc, who: Who) -> Response:
    return json_response({"versions": svc.artifacts.list_versions(who, project, name)})


@router.get("/{name}/versions/{selector}")
async def get_version(project: str, name: str, selector: str, svc: Svc, who: Who) -> Response:
    return json_response(await read(svc, svc.artifacts.get, who, _ref(project, name, selector)))


@router.get("/{name}/versions/{selector}/files")
def version_files(project: str, name: str, selector: str, svc: Svc, who: Who) -> Response:
    return json_response({"files": svc.artifacts.files(who, _ref(project, name, selector))})


@router.patch("/{name}/versions/{selector}")
def update_version(
    project: str, name: str, selector: str, body: VersionUpdate, svc: Svc, who: Who
) -> Response:
    return json_response(svc.artifacts.update(who, _ref(project, name, selector), **body.given()))


@router.delete("/{name}/versions/{selector}", status_code=204)
def delete_version(project: str, name: str, selector: str, svc: Svc, who: Who) -> Response:
    svc.artifacts.delete(who, _ref(project, name, selector))
    return Response(status_code=204)


@router.put("/{name}/aliases/{alias}")
async def set_alias(
    project: str, name: str, alias: str, body: AliasSet, svc: Svc, who: Who
) -> Response:
    info = await write(svc, svc.artifacts.set_alias, who, project, name, alias, body.version)
    return json_response(info)


@router.delete("/{name}/aliases/{alias}", status_code=204)
async def remove_alias(project: str, name: str, alias: str, svc: Svc, who: Who) -> Response:
    await write(svc, svc.artifacts.remove_alias, who, project, name, alias)
    return Response(status_code=204)
