"""/registries: registries, collections, links, collection aliases and history."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelbay.names import RegistryRef, check_name, parse_ref
from modelbay.server.api.bodies import (
    AliasSet,
    CollectionUpdate,
    Link,
    RegistryCreate,
    VersionUpdate,
)
from modelbay.server.api.deps import Svc, Who, caller, read, write
from modelbay.server.app import json_response

router = APIRouter(prefix="/registries", tags=["registries"])
COLLECTION = "/{registry}/collections/{collection}"


def _ref(registry: str, collection: str, selector: str) -> RegistryRef:
    return RegistryRef(
        check_name(registry, "registry"),
        check_name(collection, "collection"),
        check_name(selector, "version"),
    )


@router.get("")
def list_registries(svc: Svc, who: Who) -> Response:
    return json_response({"registries": svc.registry.list_registries(who)})


@router.post("", status_code=201)
def create_registry(body: RegistryCreate, svc: Svc, who: Who) -> Response:
    return json_response(
        svc.registry.create_registry(who, body.name, body.description, body.artifact_types), 201
    )


@router.get("/{registry}")
def get_registry(registry: str, svc: Svc, who: Who) -> Response:
    return json_response(svc.registry.get_registry(who, registry))


@router.get("/{registry}/collections")
def list_collections(registry: str, svc: Svc, who: Who, query: str | None = None) -> Response:
    return json_response({"collections": svc.registry.list_collections(who, registry, query)})


@router.get(COLLECTION)
def get_collection(registry: str, collection: str, svc: Svc, who: Who) -> Response:
    return json_response(svc.registry.get_collection(who, registry, collection))


@router.patch(COLLECTION)
def update_collection(
    registry: str, collection: str, body: CollectionUpdate, svc: Svc, who: Who
) -> Response:
    return json_response(svc.registry.update_collection(who, registry, collection, **body.given()))


@router.get(COLLECTION + "/history")
def collection_history(
    registry: str, collection: str, svc: Svc, who: Who, limit: int = 100, before: int | None = None
) -> Response:
    events = svc.registry.history(
        who, registry=registry, collection=collection, limit=limit, before=before
    )
    return json_response({"events": events})


@router.post(COLLECTION + "/versions")
async def link(registry: str, collection: str, body: Link, request: Request) -> Response:
    svc, who = caller(request)
    info, created = await write(
        svc, svc.registry.link, who, parse_ref(body.artifact), registry, collection, body.aliases
    )
    return json_response(info, 201 if created else 200)


@router.get(COLLECTION + "/versions")
async def list_versions(
    registry: str,
    collection: str,
    svc: Svc,
    who: Who,
    limit: int = 1000,
    page_token: str | None = None,
) -> Response:
    page = await read(
        svc,
        svc.registry.list_versions,
        who,
        registry,
        collection,
        limit=limit,
        page_token=page_token,
    )
    return json_response(page)


@router.get(COLLECTION + "/versions/{selector}")
async def get_version(
    registry: str, collection: str, selector: str, svc: Svc, who: Who
) -> Response:
    return json_response(
        await read(svc, svc.artifacts.get, who, _ref(registry, collection, selector))
    )


@router.get(COLLECTION + "/versions/{selector}/files")
def version_files(registry: str, collection: str, selector: str, svc: Svc, who: Who) -> Response:
    return json_response({"files": svc.artifacts.files(who, _ref(registry, collection, selector))})


@router.patch(COLLECTION + "/versions/{selector}")
def update_version(
    registry: str, collection: str, selector: str, body: VersionUpdate, svc: Svc, who: Who
) -> Response:
    return json_response(
        svc.artifacts.update(who, _ref(registry, collection, selector), **body.given())
    )


@router.delete(COLLECTION + "/versions/{selector}", status_code=204)
def unlink(registry: str, collection: str, selector: str, svc: Svc, who: Who) -> Response:
    svc.registry.unlink(who, _ref(registry, collection, selector))
    return Response(status_code=204)


@router.get(COLLECTION + "/versions/{selector}/history")
def version_history(
    registry: str,
    collection: str,
    selector: str,
    svc: Svc,
    who: Who,
    limit: int = 100,
    before: int | None = None,
) -> Response:
    events = svc.registry.history(
        who, _ref(registry, collection, selector), limit=limit, before=before
    )
    return json_response({"events": events})


@router.put(COLLECTION + "/aliases/{alias}")
async def set_alias(
    registry: str, collection: str, alias: str, body: AliasSet, request: Request
) -> Response:
    svc, who = caller(request)
    info = await write(svc, svc.registry.set_alias, who, registry, collection, alias, body.version)
    return json_response(info)


@router.delete(COLLECTION + "/aliases/{alias}", status_code=204)
async def remove_alias(registry: str, collection: str, alias: str, svc: Svc, who: Who) -> Response:
    await write(svc, svc.registry.remove_alias, who, registry, collection, alias)
    return Response(status_code=204)
