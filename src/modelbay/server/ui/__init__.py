"""The web UI: server-rendered pages (Jinja2) over the same services and permissions as the
REST API, with small hand-written scripts and Plotly.js served from the installed ``plotly``
package (no CDN: it works offline).

Pages sit at ``/`` (the API keeps ``/api/v1``); the UI's own files are under ``/-/``. A
browser signs in with an API key or a user name and password and gets a signed session
cookie; every form carries a CSRF token. Changes go through the services with the signed-in
principal, so they are checked and audited as that user.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles

from modelbay.errors import NotFoundError
from modelbay.server.ui import (
    access,
    account,
    automations,
    compare,
    login,
    project,
    registry,
    tables,
    teams,
    version,
)
from modelbay.server.ui.session import load_secret
from modelbay.server.ui.web import STATIC, UIState
from modelbay.settings import Settings

assets = APIRouter(include_in_schema=False)


def plotly_bundle() -> Path:
    """The minified Plotly.js that the ``plotly`` package ships."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@assets.get("/-/plotly.min.js")
def plotly_js() -> Response:
    path = plotly_bundle()
    if not path.is_file():
        raise NotFoundError("plotly.min.js is not installed (pip install plotly)")
    return FileResponse(
        path,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the pages, their JSON endpoints and static files on ``app``.

    Sessions are signed with ``MODELBAY_SECRET_KEY`` when set (give every replica the same
    one), else with a key kept in the data directory.
    """
    secret = load_secret(settings.data_dir, os.environ.get("MODELBAY_SECRET_KEY") or None)
    app.state.ui = UIState(secret)
    app.include_router(assets)
    app.include_router(compare.data_router)
    app.include_router(tables.data_router)
    modules = (login, access, registry, project, compare, tables, version, automations, account)
    for module in (*modules, teams):
        app.include_router(module.router)
    app.mount("/-/static", StaticFiles(directory=STATIC), name="ui-static")


def login_link(app: FastAPI, user: str = "admin") -> str:
    """A one-time path that signs ``user`` in (valid 15 minutes, on any replica)."""
    return f"/login/once/{app.state.services.sessions.issue_link(user)}"


__all__ = ["install", "login_link"]
