"""Registries and collections: the home page with search, a collection with its model card,
versions table, actions and history."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Iterable

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelbay.errors import InvalidInputError, ModelbayError
from modelbay.names import RegistryRef, check_name, registry_ref
from modelbay.server.ui.web import (
    Posted,
    Svc,
    UIRoute,
    Who,
    page_number,
    redirect,
    render,
    session_of,
    whole_number,
)
from modelbay.services import Principal, Services

router = APIRouter(route_class=UIRoute, include_in_schema=False)
PAGE_SIZE = 50
HISTORY_SIZE = 25
HOME_COLLECTIONS = 12


def locked(aliases: Iterable[str], patterns: list[str]) -> set[str]:
    """The aliases that a protected name or glob covers (shown with a lock)."""
    return {a for a in aliases if any(fnmatch.fnmatchcase(a, p) for p in patterns)}


def required(form_value: str, what: str) -> str:
    value = form_value.strip()
    if not value:
        raise InvalidInputError(f"enter {what}")
    return value


def act(
    request: Request,
    action: str,
    do: Callable[[], tuple[str, str | None]],
    again: Callable[[dict[str, str], int], Response],
) -> Response:
    """Run a form's change; on success flash its message and redirect (to the returned URL or
    the same page), on a ModelbayError show the page again with the error beside the form."""
    try:
        message, target = do()
    except ModelbayError as exc:
        return again({action: exc.message}, exc.status)
    session_of(request).flash(message)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(target or here)


@router.get("/")
def home(request: Request, svc: Svc, who: Who, q: str | None = None) -> Response:
    query = (q or "").strip()[:200] or None
    shelves = []
    for reg in svc.registry.list_registries(who):
        collections = svc.registry.list_collections(who, reg["name"], query)
        shelves.append({"registry": reg, "collections": collections})
    projects = svc.views.list_projects(who)
    return render(
        request,
        "home.html",
        {
            "title": "Registries",
            "shelves": shelves,
            "projects": projects,
            "q": query or "",
            "limit": None if query else HOME_COLLECTIONS,
        },
    )


@router.get("/registries/{registry}")
def registry_page(
    request: Request, registry: str, svc: Svc, who: Who, q: str | None = None
) -> Response:
    query = (q or "").strip()[:200] or None
    reg = svc.registry.get_registry(who, registry)
    collections = svc.registry.list_collections(who, registry, query)
    return render(
        request,
        "registry.html",
        {
            "title": f"{reg['name']} registry",
            "reg": reg,
            "collections": collections,
            "q": query or "",
        },
    )


def _sort_args(sort: str | None, order: str | None) -> tuple[str, str | None, bool, str]:
    """``sort`` from the query: ``version``, ``created`` or ``m:<metric key>``."""
    text = sort or "version"
    descending = order != "asc"
    if text.startswith("m:"):
        return "metric", text[2:], descending, text
    if text in ("version", "created"):
        return text, None, descending, text
    return "version", None, descending, "version"


def collection_page(
    request: Request,
    svc: Services,
    who: Principal,
    registry: str,
    collection: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    params = request.query_params
    sort, metric, descending, sort_text = _sort_args(params.get("sort"), params.get("order"))
    page = page_number(params.get("page"))
    before_text = params.get("before", "")
    before = whole_number(before_text)
    metrics = "final" if params.get("metrics") == "final" else "step"
    info = svc.registry.get_collection(who, registry, collection)
    table = svc.views.collection_versions(
        who,
        registry,
        collection,
        sort=sort,
        metric=metric,
        descending=descending,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
        metrics=metrics,
    )
    history = svc.registry.history(
        who, registry=registry, collection=collection, limit=HISTORY_SIZE + 1, before=before
    )
    more_history = len(history) > HISTORY_SIZE
    history = history[:HISTORY_SIZE]
    alias_rows = sorted(info.get("aliases", {}).items(), key=lambda kv: (kv[0] == "latest", kv[0]))
    patterns = svc.access.protected(who, registry)
    return render(
        request,
        "collection.html",
        {
            "title": registry_ref(registry, collection),
            "coll": info,
            "table": table,
            "alias_rows": alias_rows,
            "protected": patterns,
            "locked": locked(info.get("aliases", {}), patterns),
            "sort": sort_text,
            "order": "desc" if descending else "asc",
            "metrics": metrics,
            "page": page,
            "pages": max(1, math.ceil(table["total"] / PAGE_SIZE)),
            "history": history,
            "history_next": history[-1]["id"] if more_history and history else None,
            "errors": errors or {},
            "values": values or {},
        },
        status=status,
    )


@router.get("/registries/{registry}/{collection}")
def collection_view(
    request: Request, registry: str, collection: str, svc: Svc, who: Who
) -> Response:
    return collection_page(request, svc, who, registry, collection)


@router.post("/registries/{registry}/{collection}")
def collection_action(
    request: Request, registry: str, collection: str, form: Posted, svc: Svc, who: Who
) -> Response:
    action = form.get("action")
    base = registry_ref(registry, collection)

    def do() -> tuple[str, str | None]:
        if action == "description":
            text = form.get("description").replace("\r\n", "\n")
            svc.registry.update_collection(
                who, registry, collection, description=text.strip() and text or None
            )
            return "Saved the description.", None
        if action in ("add_tag", "remove_tag"):
            tag = required(form.get("tag"), "a tag")
            current = set(svc.registry.get_collection(who, registry, collection)["tags"])
            tags = current | {tag} if action == "add_tag" else current - {tag}
            svc.registry.update_collection(who, registry, collection, tags=sorted(tags))
            done = "Added" if action == "add_tag" else "Removed"
            return f"{done} tag {tag}.", None
        if action == "add_alias":
            alias = required(form.get("alias"), "an alias")
            version = required(form.get("version"), "a version")
            svc.registry.set_alias(who, registry, collection, alias, version)
            return f"{base}:{version} is now {alias}.", None
        if action == "remove_alias":
            alias = required(form.get("alias"), "an alias")
            svc.registry.remove_alias(who, registry, collection, alias)
            return f"Removed alias {alias}.", None
        if action == "unlink":
            version = check_name(required(form.get("version"), "a version"), "version")
            svc.registry.unlink(who, RegistryRef(registry, collection, version))
            return f"Unlinked {base}:{version}.", None
        raise InvalidInputError(f"unknown action {action[:40]!r}")

    return act(
        request,
        action,
        do,
        lambda errors, status: collection_page(
            request,
            svc,
            who,
            registry,
            collection,
            errors=errors,
            values=form.values(),
            status=status,
        ),
    )
