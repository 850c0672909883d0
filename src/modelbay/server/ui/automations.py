"""The Automations tab of registries, collections and projects: the scope's automations
(a banner where one was disabled), and each automation's delivery history with every
attempt, a replay button per delivery and a Test button.

Pages follow the API's rules: only members of a scope see its automations (their URLs,
headers and request bodies are the team's plumbing). Every label is user data, rendered as
text by the templates' autoescaping.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelbay.errors import InvalidInputError, ModelbayError
from modelbay.server.ui.web import (
    Posted,
    Svc,
    UIRoute,
    Who,
    redirect,
    render,
    session_of,
    whole_number,
)
from modelbay.services import Principal, Services

router = APIRouter(route_class=UIRoute, include_in_schema=False)
DELIVERIES = 25


def scope_tabs(scope: str) -> dict[str, str]:
    """Where the tabs of a scope's pages lead: its overview and its Automations tab."""
    kind, _, rest = scope.partition(":")
    if kind == "project":
        overview = f"/projects/{quote(rest, safe='')}"
    else:
        overview = "/registries/" + "/".join(quote(p, safe="") for p in rest.split("/", 1))
    return {
        "scope": scope,
        "kind": kind,
        "label": rest,
        "overview": overview,
        "automations": f"/automations?scope={quote(scope, safe='')}",
    }


@router.get("/automations")
def automations_page(request: Request, svc: Svc, who: Who, scope: str = "") -> Response:
    scope = scope.strip()[:300]
    if not scope:
        raise InvalidInputError("give the scope: registry:NAME, collection:REG/NAME, project:NAME")
    found = svc.automations.list_automations(who, scope)
    return render(
        request,
        "automations.html",
        {
            "title": f"Automations of {scope}",
            "tabs": scope_tabs(scope),
            "automations": found,
            "disabled": [a for a in found if not a["enabled"]],
        },
    )


def automation_page(
    request: Request,
    svc: Services,
    who: Principal,
    name: str,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    info = svc.automations.get(who, name)
    before_text = request.query_params.get("before", "")
    before = whole_number(before_text)
    found = svc.automations.deliveries(who, name, DELIVERIES + 1, before)
    more = len(found) > DELIVERIES
    found = found[:DELIVERIES]
    return render(
        request,
        "automation.html",
        {
            "title": f"Automation {info['name']}",
            "auto": info,
            "tabs": scope_tabs(info["scope"]),
            "deliveries": found,
            "next_before": found[-1]["id"] if more and found else None,
            "errors": errors or {},
        },
        status=status,
    )


@router.get("/automations/{name}")
def automation_view(request: Request, name: str, svc: Svc, who: Who) -> Response:
    return automation_page(request, svc, who, name)


@router.post("/automations/{name}")
def automation_action(request: Request, name: str, form: Posted, svc: Svc, who: Who) -> Response:
    action = form.get("action")
    try:
        message = _act(svc, who, name, action, form.get("delivery"))
    except ModelbayError as exc:
        return automation_page(
            request, svc, who, name, errors={action or "action": exc.message}, status=exc.status
        )
    session_of(request).flash(message)
    return redirect(f"/automations/{quote(name, safe='')}")


def _act(svc: Services, who: Principal, name: str, action: str, delivery: str) -> str:
    if action == "test":
        sent: dict[str, Any] = svc.automations.test(who, name)
        return f"Sent a test event: delivery {sent['id']} is {sent['state']}."
    if action in ("enable", "disable"):
        svc.automations.update(who, name, enabled=action == "enable")
        return f"{'Enabled' if action == 'enable' else 'Disabled'} {name}."
    if action == "replay":
        number = whole_number(delivery)
        if number is None:
            raise InvalidInputError("which delivery?")
        svc.automations.replay(who, number)
        return f"Delivery {delivery} queued again, with the same webhook-id."
    raise InvalidInputError(f"unknown action {action[:40]!r}")
