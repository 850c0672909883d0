"""REST API v1: one router per resource."""

from fastapi import APIRouter

from modelbay.server.api import artifacts, blobs, refs, registries, runs, users

api_router = APIRouter()
for _module in (users, runs, blobs, artifacts, registries, refs):
    api_router.include_router(_module.router)
