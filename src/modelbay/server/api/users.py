"""Who am I, and (admins) new users with their first key."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from modelbay.server.api.bodies import UserCreate
from modelbay.server.api.deps import Svc, Who
from modelbay.server.app import json_response

router = APIRouter(tags=["users"])


# Async: a sync route is handed to a worker thread and back, which costs more than it does.
@router.get("/health")
async def health() -> Response:
    return json_response({"status": "ok"})


@router.get("/whoami")
async def whoami(who: Who) -> Response:
    return json_response({"user": who.name, "is_admin": who.is_admin})


@router.post("/users", status_code=201)
def create_user(body: UserCreate, svc: Svc, who: Who) -> Response:
    return json_response(svc.auth.create_user(who, body.name, body.is_admin), 201)
