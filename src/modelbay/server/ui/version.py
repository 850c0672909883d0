"""A version's page (a registry version or an artifact version): files and downloads,
metadata, description, aliases, tags, the usage snippet, lineage, history, and linking it
into a registry."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import IO, Any, cast
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response, StreamingResponse

from modelbay.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from modelbay.names import (
    ArtifactRef,
    Ref,
    RegistryRef,
    check_collection,
    check_name,
    check_project,
    parse_ref,
)
from modelbay.server.ui.lineage import layout
from modelbay.server.ui.project import flat
from modelbay.server.ui.registry import act, locked, required
from modelbay.server.ui.web import Posted, Svc, UIRoute, Who, ref_url, render
from modelbay.services import Principal, Services
from modelbay.services.registry import accepts
from modelbay.services.tables import JOINED_SUFFIX, is_table_file

router = APIRouter(route_class=UIRoute, include_in_schema=False)
MAX_FILES_SHOWN = 500
HISTORY_SIZE = 25


def registry_ref(registry: str, collection: str, selector: str) -> RegistryRef:
    return RegistryRef(
        check_name(registry, "registry"),
        check_collection(collection),
        check_name(selector, "version"),
    )


def artifact_ref(project: str, name: str, selector: str) -> ArtifactRef:
    return ArtifactRef(
        check_project(project), check_name(name, "artifact"), check_name(selector, "version")
    )


def link_url(text: str) -> str:
    """The page of a registry version named like ``model-registry/MNIST:v3``."""
    ref = parse_ref(text)
    if isinstance(ref, RegistryRef):
        return f"/registries/{quote(ref.registry)}/{quote(ref.collection)}/{ref.selector}"
    return "/"


def usage(info: dict[str, Any]) -> str:
    link = info.get("link")
    ref = link["ref"] if link else info["ref"]
    if "model" in info["type"]:
        return f'path = run.use_model("{ref}")'
    return f'artifact = run.use_artifact("{ref}")\npath = artifact.download()'


def link_targets(svc: Services, who: Principal, type_: str) -> list[dict[str, Any]]:
    """Registries that accept ``type_``, each with its collections of that type."""
    out = []
    for reg in svc.registry.list_registries(who):
        if accepts(reg["artifact_types"], type_):
            names = [
                c["name"]
                for c in svc.registry.list_collections(who, reg["name"])
                if c["type"] == type_
            ]
            out.append({"name": reg["name"], "collections": names})
    return out


def metric_rows(evidence: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, value at the logged step, final value)`` for every key of either."""
    at, final = evidence["at_step"], evidence["summary"]
    return [(k, at.get(k), final.get(k)) for k in sorted(at.keys() | final.keys())]


def version_page(
    request: Request,
    svc: Services,
    who: Principal,
    ref: Ref,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    info = svc.artifacts.get(who, ref)
    try:
        files = svc.artifacts.files(who, ref)
    except PermissionDeniedError:  # a restricted viewer sees the version, not its files
        files = []
    graph = svc.lineage.graph(who, ref=ref, depth=2)
    root = next((n for n in graph["nodes"] if n["node"] == graph["root"]), None)
    history = svc.registry.history(who, ref, limit=HISTORY_SIZE)
    link = info.get("link")
    evidence = svc.views.version_evidence(who, ref)
    title = f"{link['ref']}" if link else info["ref"]
    reg = svc.registry.get_registry(who, link["registry"]) if link else None
    patterns = (reg["protected_aliases"] or []) if reg else []
    return render(
        request,
        "version.html",
        {
            "title": title,
            "info": info,
            "link": link,
            "page_url": ref_url(info),
            "files": files[:MAX_FILES_SHOWN],
            "table_files": [f for f in files if is_table_file(f["path"]) and not f["ref"]],
            "joined_files": [f for f in files if f["path"].endswith(JOINED_SUFFIX) and not f["ref"]],
            "file_total": len(files),
            "graph": layout(graph),
            "links": [
                {"ref": text, "url": link_url(text)} for text in (root or {}).get("links", [])
            ],
            "history": history,
            "run": evidence["run"],
            "evidence": evidence,
            "metric_rows": metric_rows(evidence),
            "config": flat(evidence["run"]["config"]) if evidence["run"] else [],
            "usage": usage(info),
            "targets": [] if link else link_targets(svc, who, info["type"]),
            "protected": patterns,
            "locked": locked(info["aliases"], patterns),
            "registry_role": reg["role"] if reg else None,
            "errors": errors or {},
            "values": values or {},
        },
        status=status,
    )


def version_action(
    request: Request, svc: Services, who: Principal, ref: Ref, form: Any
) -> Response:
    action = form.get("action")
    info = svc.artifacts.get(who, ref)
    link = info.get("link")
    here = ref_url(info)

    def do() -> tuple[str, str | None]:
        if action == "add_alias":
            alias = required(form.get("alias"), "an alias")
            if link:
                svc.registry.set_alias(
                    who, link["registry"], link["collection"], alias, link["version"]
                )
                return f"{link['ref']} is now {alias}.", here
            svc.artifacts.set_alias(who, info["project"], info["name"], alias, info["version"])
            return f"{info['ref']} is now {alias}.", here
        if action == "remove_alias":
            alias = required(form.get("alias"), "an alias")
            if link:
                svc.registry.remove_alias(who, link["registry"], link["collection"], alias)
            else:
                svc.artifacts.remove_alias(who, info["project"], info["name"], alias)
            return f"Removed alias {alias}.", here
        if action in ("add_tag", "remove_tag"):
            tag = required(form.get("tag"), "a tag")
            current = set(info["tags"])
            tags = current | {tag} if action == "add_tag" else current - {tag}
            svc.artifacts.update(who, ref, tags=sorted(tags))
            return ("Added" if action == "add_tag" else "Removed") + f" tag {tag}.", here
        if action == "description":
            text = form.get("description").replace("\r\n", "\n")
            svc.artifacts.update(who, ref, description=text.strip() and text or None)
            return "Saved the description.", here
        if action == "link":
            registry = required(form.get("registry"), "a registry")
            collection = required(form.get("collection"), "a collection name")
            aliases = [a for a in form.get("aliases").replace(",", " ").split() if a]
            source = parse_ref(info["ref"])
            linked, created = svc.registry.link(who, source, registry, collection, aliases)
            verb = "Linked" if created else "Already linked as"
            return f"{verb} {linked['link']['ref']}.", ref_url(linked)
        if action == "promote" and link:
            alias = required(form.get("alias"), "an alias")
            reason = (form.get("reason") or "").strip() or None  # a request needs one
            done = svc.promotions.request(
                who,
                RegistryRef(link["registry"], link["collection"], link["version"]),
                alias,
                reason,
            )
            if done["state"] == "approved":
                return f"{link['ref']} is now {alias}.", here
            return (
                f"Requested {alias} on {link['ref']}: request {done['id']} waits for an admin "
                f"of {link['registry']}.",
                here,
            )
        if action == "unlink" and link:
            svc.registry.unlink(
                who, RegistryRef(link["registry"], link["collection"], link["version"])
            )
            return (
                f"Unlinked {link['ref']}.",
                f"/registries/{link['registry']}/{link['collection']}",
            )
        raise InvalidInputError(f"unknown action {action[:40]!r}")

    return act(
        request,
        action,
        do,
        lambda errors, status: version_page(
            request, svc, who, ref, errors=errors, values=form.values(), status=status
        ),
    )


@router.get("/registries/{registry}/{collection}/{selector}")
def registry_version(
    request: Request, registry: str, collection: str, selector: str, svc: Svc, who: Who
) -> Response:
    return version_page(request, svc, who, registry_ref(registry, collection, selector))


@router.post("/registries/{registry}/{collection}/{selector}")
def registry_version_action(
    request: Request,
    registry: str,
    collection: str,
    selector: str,
    form: Posted,
    svc: Svc,
    who: Who,
) -> Response:
    return version_action(request, svc, who, registry_ref(registry, collection, selector), form)


@router.get("/projects/{project}/artifacts/{name}/{selector}")
def artifact_version(
    request: Request, project: str, name: str, selector: str, svc: Svc, who: Who
) -> Response:
    return version_page(request, svc, who, artifact_ref(project, name, selector))


@router.post("/projects/{project}/artifacts/{name}/{selector}")
def artifact_version_action(
    request: Request, project: str, name: str, selector: str, form: Posted, svc: Svc, who: Who
) -> Response:
    return version_action(request, svc, who, artifact_ref(project, name, selector), form)


# -- downloads ------------------------------------------------------------------------------


def _stored(svc: Services, entry: dict[str, Any]) -> None:
    if entry.get("ref"):
        raise NotFoundError(
            f"{entry['path']!r} is a reference to {entry['ref']}: its bytes are not stored here",
            {"ref": entry["ref"]},
        )
    if not svc.blobs.is_stored(entry["sha256"]):
        raise NotFoundError(f"the bytes of {entry['path']!r} are not stored")


def file_response(svc: Services, who: Principal, ref: Ref, path: str) -> Response:
    """One file of a version, as an attachment (never rendered by the browser)."""
    entry = next((f for f in svc.artifacts.files(who, ref) if f["path"] == path), None)
    if entry is None:
        raise NotFoundError(f"{ref} has no file {path!r}")
    _stored(svc, entry)
    headers = {"X-Content-Type-Options": "nosniff", "X-Modelbay-Sha256": entry["sha256"]}
    name = PurePosixPath(path).name
    local = svc.blobs.local_path(who, entry["sha256"])
    if local is not None:
        return FileResponse(
            local,
            media_type="application/octet-stream",
            filename=name,
            headers=headers,
        )
    # An object store: the bytes pass through so that the browser gets the file's own name.
    return StreamingResponse(
        svc.blobs.iter_bytes(who, entry["sha256"]),
        media_type="application/octet-stream",
        headers={
            **headers,
            "Content-Disposition": f"attachment; filename*=utf-8''{quote(name)}",
            "Content-Length": str(entry["size"]),
        },
    )


def image_response(svc: Services, who: Principal, ref: Ref, path: str) -> Response:
    """A small raster image of a version, for an ``<img>`` on its page: served with its own
    type, never sniffed, and forbidden to run anything should a browser open it directly."""
    media_type, data = svc.views.preview_image(who, ref, path)
    return Response(
        data,
        media_type=media_type,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=3600",
        },
    )


@router.get("/registries/{registry}/{collection}/{selector}/images/{path:path}")
def registry_image(
    registry: str, collection: str, selector: str, path: str, svc: Svc, who: Who
) -> Response:
    return image_response(svc, who, registry_ref(registry, collection, selector), path)


@router.get("/projects/{project}/artifacts/{name}/{selector}/images/{path:path}")
def artifact_image(
    project: str, name: str, selector: str, path: str, svc: Svc, who: Who
) -> Response:
    return image_response(svc, who, artifact_ref(project, name, selector), path)


class _Sink:
    """A write-only stream that zipfile writes into and the response drains."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> Iterator[bytes]:
        parts, self.parts = self.parts, []
        yield from parts


def zip_response(svc: Services, who: Principal, ref: Ref) -> Response:
    """Every stored file of a version in one zip, streamed as it is made (no temporary copy);
    references to outside files are left out."""
    info = svc.artifacts.get(who, ref)
    files = [f for f in svc.artifacts.files(who, ref) if not f.get("ref")]
    for f in files:
        _stored(svc, f)

    def stream() -> Iterator[bytes]:
        sink = _Sink()
        with zipfile.ZipFile(cast(IO[bytes], sink), "w", zipfile.ZIP_STORED) as archive:
            for f in files:
                entry = zipfile.ZipInfo(f["path"])
                with archive.open(entry, "w", force_zip64=f["size"] > 0x7FFFFFFF) as dst:
                    for chunk in svc.blobs.iter_bytes(who, f["sha256"]):
                        dst.write(chunk)
                        yield from sink.drain()
                yield from sink.drain()
        yield from sink.drain()

    filename = f"{info['name']}-{info['version']}.zip"
    return StreamingResponse(
        stream(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/registries/{registry}/{collection}/{selector}/files/{path:path}")
def registry_file(
    registry: str, collection: str, selector: str, path: str, svc: Svc, who: Who
) -> Response:
    return file_response(svc, who, registry_ref(registry, collection, selector), path)


@router.get("/registries/{registry}/{collection}/{selector}/download.zip")
def registry_zip(registry: str, collection: str, selector: str, svc: Svc, who: Who) -> Response:
    return zip_response(svc, who, registry_ref(registry, collection, selector))


@router.get("/projects/{project}/artifacts/{name}/{selector}/files/{path:path}")
def artifact_file(
    project: str, name: str, selector: str, path: str, svc: Svc, who: Who
) -> Response:
    return file_response(svc, who, artifact_ref(project, name, selector), path)


@router.get("/projects/{project}/artifacts/{name}/{selector}/download.zip")
def artifact_zip(project: str, name: str, selector: str, svc: Svc, who: Who) -> Response:
    return zip_response(svc, who, artifact_ref(project, name, selector))
