"""A user's account pages: their API keys (list, create showing the key once, revoke) and
password; and, for organization admins, the organization's audit log with CSV and JSON
export."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from modelbay.contract.fields import Int64
from modelbay.errors import InvalidInputError, ModelbayError
from modelbay.server.ui.web import (
    PAGE_HEADERS,
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

#: Expiry choices of the key form, in days ("" is never).
EXPIRIES = (("", "never"), ("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"))
AUDIT_PAGE = 100
#: The most events one export holds.
EXPORT_MAX = 100_000


def _keys_page(
    request: Request,
    svc: Services,
    who: Principal,
    *,
    created: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    every = who.is_admin and request.query_params.get("all") == "1"
    keys = svc.auth.list_keys(who, all_users=every)
    context = {
        "title": "API keys",
        "nav": "keys",
        "keys": keys,
        "every": every,
        "created": created,
        "expiries": EXPIRIES,
        "errors": errors or {},
    }
    return render(request, "keys.html", context, status=status)


@router.get("/keys")
def keys_page(request: Request, svc: Svc, who: Who) -> Response:
    return _keys_page(request, svc, who)


@router.post("/keys")
def create_key(request: Request, form: Posted, svc: Svc, who: Who) -> Response:
    """Create a key and show it on the answer itself, this once (never in the cookie)."""
    name = form.get("name").strip() or None
    days = form.get("expires").strip()
    try:
        number = whole_number(days)
        if days and number is None:
            raise InvalidInputError("choose an expiry from the list")
        made = svc.auth.create_key(
            who, name=name, expires_in=number * 86400 if number is not None else None
        )
    except ModelbayError as exc:
        return _keys_page(request, svc, who, errors={"create": exc.message}, status=exc.status)
    return _keys_page(request, svc, who, created=made, status=201)


@router.post("/keys/{key_id}/revoke")
def revoke_key(request: Request, key_id: Int64, form: Posted, svc: Svc, who: Who) -> Response:
    svc.auth.revoke_key(who, key_id)
    session_of(request).flash(f"Revoked key {key_id}: it works nowhere from now on.")
    return redirect("/keys" + ("?all=1" if form.get("all") == "1" else ""))


@router.post("/password")
def set_password(request: Request, form: Posted, svc: Svc, who: Who) -> Response:
    """Set one's own password; every web session of the user ends, this one too."""
    password, again = form.get("password"), form.get("again")
    try:
        if password != again:
            raise InvalidInputError("the two passwords differ")
        svc.auth.set_own_password(who, password)
    except ModelbayError as exc:
        return _keys_page(request, svc, who, errors={"password": exc.message}, status=exc.status)
    return redirect("/login")


# -- the audit log ---------------------------------------------------------------------------


def _day(text: str, end: bool = False) -> float | None:
    """A ``YYYY-MM-DD`` (or ISO time) form field as UTC seconds; a day's end is the next
    midnight."""
    text = text.strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"invalid date {text!r}: use YYYY-MM-DD") from None
    stamp = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    return stamp + 86400 if end and len(text) == 10 else stamp


def _filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    return {
        "actor": q.get("actor", "").strip() or None,
        "action": q.get("action", "").strip() or None,
        "subject": q.get("object", "").strip() or None,
        "since": _day(q.get("since", "")),
        "until": _day(q.get("until", ""), end=True),
    }


@router.get("/audit")
def audit_page(request: Request, svc: Svc, who: Who) -> Response:
    token = request.query_params.get("page_token") or None
    page = svc.audit.events(who, **_filters(request), limit=AUDIT_PAGE, page_token=token)
    q = request.query_params
    values = {k: q.get(k, "") for k in ("actor", "action", "object", "since", "until")}
    return render(
        request,
        "audit.html",
        {"title": "Audit log", "nav": "audit", "page": page, "values": values},
    )


def _all_events(svc: Services, who: Principal, filters: dict[str, Any]) -> list[dict[str, Any]]:
    """Every matching event up to :data:`EXPORT_MAX`, newest first (read before the answer
    starts, so that an error is still an error page)."""
    events: list[dict[str, Any]] = []
    token = None
    while len(events) < EXPORT_MAX:
        page = svc.audit.events(who, **filters, limit=5000, page_token=token)
        events.extend(page["events"])
        token = page["next_page_token"]
        if token is None:
            break
    return events[:EXPORT_MAX]


@router.get("/audit.csv")
def audit_csv(request: Request, svc: Svc, who: Who) -> Response:
    chunks = svc.audit.export_csv(who, **_filters(request))  # checks the caller first
    headers = {**PAGE_HEADERS, "Content-Disposition": 'attachment; filename="audit.csv"'}
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/audit.json")
def audit_json(request: Request, svc: Svc, who: Who) -> Response:
    events = _all_events(svc, who, _filters(request))
    headers = {**PAGE_HEADERS, "Content-Disposition": 'attachment; filename="audit.json"'}
    body = json.dumps({"events": events}, default=str)
    return Response(body, media_type="application/json", headers=headers)
