"""Who may do what, in the web UI: a registry's settings page (visibility, accepted types,
approvals needed, members and their roles, protected aliases) and the page of promotion
requests to review. Changes go through the services as the signed-in user, who must be
the registry's admin; others see the same page read-only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelbay.errors import InvalidInputError
from modelbay.server.ui.registry import act, required
from modelbay.server.ui.web import Posted, Svc, UIRoute, Who, render, whole_number
from modelbay.services import Principal, Services

router = APIRouter(route_class=UIRoute, include_in_schema=False)
ROLES = ("admin", "member", "viewer", "restricted_viewer")
STATES = ("pending", "approved", "rejected", "stale", "cancelled")
REQUESTS_SHOWN = 100


def settings_page(
    request: Request,
    svc: Services,
    who: Principal,
    registry: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    reg = svc.registry.get_registry(who, registry)
    return render(
        request,
        "registry_settings.html",
        {
            "title": f"{reg['name']} registry settings",
            "reg": reg,
            "is_admin": reg.get("role") == "admin",
            "members": svc.access.members(who, registry=registry),
            "protected": reg["protected_aliases"] or [],
            "teams": [t["name"] for t in svc.access.teams(who)],
            "roles": ROLES,
            "errors": errors or {},
            "values": values or {},
        },
        status=status,
    )


@router.get("/settings/registries/{registry}")
def registry_settings(request: Request, registry: str, svc: Svc, who: Who) -> Response:
    return settings_page(request, svc, who, registry)


def _settings_change(svc: Services, who: Principal, registry: str, form: Any) -> str:
    types = [t for t in form.get("artifact_types").replace(",", " ").split() if t]
    try:
        approvals = int(form.get("required_approvals") or "1")
    except ValueError:
        raise InvalidInputError("approvals needed must be a whole number") from None
    svc.access.update_registry(
        who,
        registry,
        description=form.get("description").strip() or None,
        visibility=form.get("visibility"),
        artifact_types=types or None,
        required_approvals=approvals,
    )
    return "Saved the settings."


def _member_of(form: Any) -> dict[str, str]:
    name = required(form.get("name"), "a user or team name")
    kind = form.get("kind")
    if kind not in ("user", "team"):
        raise InvalidInputError("choose a user or a team")
    return {kind: name}


@router.post("/settings/registries/{registry}")
def registry_settings_action(
    request: Request, registry: str, form: Posted, svc: Svc, who: Who
) -> Response:
    action = form.get("action")

    def do() -> tuple[str, str | None]:
        if action == "settings":
            return _settings_change(svc, who, registry, form), None
        if action == "add_member":
            member = _member_of(form)
            added = svc.access.add_member(who, registry=registry, role=form.get("role"), **member)
            return f"{added['name']} is now {added['role']}.", None
        if action == "remove_member":
            member = _member_of(form)
            svc.access.remove_member(who, registry=registry, **member)
            return f"Removed {next(iter(member.values()))}.", None
        if action == "protect":
            pattern = required(form.get("pattern"), "an alias or pattern")
            svc.access.protect(who, registry, pattern)
            return f"Protected {pattern}.", None
        if action == "unprotect":
            pattern = required(form.get("pattern"), "an alias or pattern")
            svc.access.unprotect(who, registry, pattern)
            return f"{pattern} is no longer protected.", None
        raise InvalidInputError(f"unknown action {action[:40]!r}")

    return act(
        request,
        action,
        do,
        lambda errors, status: settings_page(
            request, svc, who, registry, errors=errors, values=form.values(), status=status
        ),
    )


# -- requests to review -------------------------------------------------------------------------


def requests_page(
    request: Request,
    svc: Services,
    who: Principal,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    params = request.query_params
    state = params.get("state", "pending")
    state = state if state in (*STATES, "all") else "pending"
    only = params.get("registry") or None
    registries = svc.registry.list_registries(who)
    found: list[dict[str, Any]] = []
    admin_of: set[str] = set()
    for reg in registries:
        if only is not None and reg["name"] != only:
            continue
        listed = svc.promotions.list_requests(
            who, reg["name"], state=None if state == "all" else state, limit=REQUESTS_SHOWN
        )
        if listed and _role(svc, who, reg["name"]) == "admin":
            admin_of.add(reg["name"])
        found += listed
    found.sort(key=lambda p: -p["id"])
    return render(
        request,
        "requests.html",
        {
            "title": "Promotion requests",
            "nav": "requests",
            "requests": found[:REQUESTS_SHOWN],
            "registries": [r["name"] for r in registries],
            "state": state,
            "only": only or "",
            "states": STATES,
            "admin_of": admin_of,
            "errors": errors or {},
            "values": values or {},
        },
        status=status,
    )


def _role(svc: Services, who: Principal, registry: str) -> str | None:
    role = svc.registry.get_registry(who, registry).get("role")
    return str(role) if role is not None else None


@router.get("/requests")
def requests_view(request: Request, svc: Svc, who: Who) -> Response:
    return requests_page(request, svc, who)


@router.post("/requests")
def requests_action(request: Request, form: Posted, svc: Svc, who: Who) -> Response:
    action = form.get("action")

    def do() -> tuple[str, str | None]:
        text = required(form.get("request"), "a request")
        number = whole_number(text)
        if number is None:
            raise InvalidInputError(f"invalid request number {text[:20]!r}")
        comment = form.get("comment").strip() or None
        if action == "approve":
            done = svc.promotions.approve(who, number, comment)
            if done["state"] == "approved":
                return f"Approved: {done['alias']} is on {done['ref']}.", None
            return f"Approved request {done['id']}; it needs more approvals.", None
        if action == "reject":
            done = svc.promotions.reject(who, number, comment)
            return f"Rejected request {done['id']}.", None
        raise InvalidInputError(f"unknown action {action[:40]!r}")

    return act(
        request,
        f"{action}-{form.get('request')[:20]}",
        do,
        lambda errors, status: requests_page(
            request, svc, who, errors=errors, values=form.values(), status=status
        ),
    )
