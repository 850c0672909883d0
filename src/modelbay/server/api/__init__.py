"""REST API v1: one router per resource."""

from fastapi import APIRouter

from modelbay.server.api import admin, artifacts, blobs, refs, registries, runs, users

api_router = APIRouter()
for _module in (admin, users, runs, blobs, artifacts, registries, refs):
    api_router.include_router(_module.router)
from modelbay.server.api import metrics  # noqa: E402  (metric histories of many runs)

api_router.include_router(metrics.router)
