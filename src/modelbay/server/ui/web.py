"""What every page of the web UI shares: the route class that turns errors into pages and
writes the session back, the logged-in principal, checked forms, and template rendering."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import HTMLResponse, RedirectResponse, Response

from modelbay.contract.fields import INT64_MAX
from modelbay.errors import (
    AuthenticationError,
    InvalidInputError,
    ModelbayError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ServerError,
)
from modelbay.server.ui.markdown import render_markdown
from modelbay.server.ui.session import Session, SessionCodec
from modelbay.services import Principal, Services
from modelbay.sizes import format_size

log = logging.getLogger("modelbay.server.ui")
HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
MAX_FORM_BYTES = 4 << 20
NUL = "\x00"
#: The deepest page a listing shows: its offset stays within the databases' integers.
MAX_PAGE = 1_000_000
#: Scripts only from this origin (no inline script can run, whatever a page holds);
#: 'unsafe-eval' because Plotly's WebGL traces (parcoords) compile shaders with Function().
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class LoginRequired(Exception):
    """No valid session: pages redirect to the login form."""


class UIState:
    """The UI's part of ``app.state``: cookie signing and templates. (Sessions, sign-in
    links and failed sign-ins are in the database: every replica shares them.)"""

    def __init__(self, secret: bytes) -> None:
        self.codec = SessionCodec(secret)
        self.templates = make_templates()


def ui_state(request: Request) -> UIState:
    return request.app.state.ui  # type: ignore[no-any-return]


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def session_of(request: Request) -> Session:
    """The request's session, decoded once."""
    found = getattr(request.state, "ui_session", None)
    if isinstance(found, Session):
        return found
    session = ui_state(request).codec.load(request)
    request.state.ui_session = session
    return session


def principal(request: Request) -> Principal:
    """The logged-in user of a page.

    Raises:
        LoginRequired: no session, or its user is gone.
    """
    found = getattr(request.state, "ui_user", None)
    if isinstance(found, Principal):
        return found
    session = session_of(request)
    token = session.token
    who = services(request).sessions.principal(token) if token is not None else None
    if who is None:
        if token is not None:  # signed out elsewhere, expired, or the user is gone
            session.clear()
        raise LoginRequired()
    request.state.ui_user = who
    return who


def data_principal(request: Request) -> Principal:
    """Like :func:`principal`, for the JSON endpoints the pages poll (401 instead of a redirect)."""
    try:
        return principal(request)
    except LoginRequired:
        raise AuthenticationError("sign in to the web UI first") from None


class Form:
    """A submitted form (``application/x-www-form-urlencoded``), CSRF-checked."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        for key, value in self.pairs:
            if key == name:
                return value
        return default

    def getlist(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name]

    def values(self) -> dict[str, str]:
        """First value of each field, for refilling a form shown again with an error."""
        out: dict[str, str] = {}
        for key, value in self.pairs:
            if key != "csrf_token":
                out.setdefault(key, value)
        return out


async def checked_form(request: Request) -> Form:
    """Read and parse the form, and check its CSRF token against the session's.

    Raises:
        PermissionDeniedError: a missing or wrong CSRF token (nothing is changed).
        InvalidInputError: not a URL-encoded form, or a field holding NUL.
        PayloadTooLargeError: more than 4 MiB.
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise InvalidInputError("send the form as application/x-www-form-urlencoded")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise PayloadTooLargeError("the form is larger than 4 MiB")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=5000
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInputError(f"malformed form: {exc}") from exc
    for key, value in pairs:
        # The API's request models refuse NUL; a form reaches the services without them,
        # and PostgreSQL cannot store it (a 500 there, kept as is by SQLite).
        if NUL in key or NUL in value:
            raise InvalidInputError(
                f"form field {key.replace(NUL, '')!r} must not contain NUL characters",
                {"field": key.replace(NUL, "")},
            )
    form = Form(pairs)
    if not session_of(request).check_csrf(form.get("csrf_token") or None):
        raise PermissionDeniedError(
            "this form has expired or did not come from this site: reload the page and try again",
            {"reason": "csrf"},
        )
    return form


def whole_number(text: str) -> int | None:
    """``text`` as a number a database BIGINT holds (``0``, ``17``), or None: a sign, other
    Unicode digits (``"²".isdigit()``) or a number past 64 bits is not one."""
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= INT64_MAX else None


def page_number(text: str | None) -> int:
    """A listing's ``page`` query parameter: 1 when absent or not a number, at most
    :data:`MAX_PAGE`."""
    return min(max(1, whole_number(text or "") or 1), MAX_PAGE)


def refuse_nul_in_query(request: Request) -> None:
    """A query parameter holding NUL is refused, as the API's request models do (PostgreSQL
    cannot compare with it: a search or audit filter was a 500 there).

    Raises:
        InvalidInputError: a key or value holds NUL.
    """
    for key, value in request.query_params.multi_items():
        if NUL in key or NUL in value:
            raise InvalidInputError(
                f"query parameter {key.replace(NUL, '')!r} must not contain NUL characters",
                {"field": key.replace(NUL, "")},
            )


Who = Annotated[Principal, Depends(principal)]
DataWho = Annotated[Principal, Depends(data_principal)]
Svc = Annotated[Services, Depends(services)]
Posted = Annotated[Form, Depends(checked_form)]


def safe_next(target: str | None, default: str = "/") -> str:
    """A same-site path to go to after login (never another host)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 33 or ord(c) == 127 for c in target)  # browsers drop tabs and newlines
    ):
        return default
    return target


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    """A page from ``template``; the context gets the request, user, CSRF token and flash."""
    session = session_of(request)
    ctx = {
        "request": request,
        "user": getattr(request.state, "ui_user", None),
        "csrf": session.csrf,
        "flash": session.pop_flash(),
        "errors": {},
        "values": {},
        **context,
    }
    html = ui_state(request).templates.get_template(template).render(ctx)
    # A lone surrogate stored before the edge refused them (or by an embedded client, which
    # skips the edge) is shown escaped, "\udcff", instead of failing the page for everyone.
    body = html.encode("utf-8", "backslashreplace")
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def error_page(request: Request, exc: ModelbayError) -> HTMLResponse:
    titles = {
        400: "That did not work",
        401: "Please sign in",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        413: "Too large",
    }
    return render(
        request,
        "error.html",
        {"title": titles.get(exc.status, "Something went wrong"), "error": exc},
        status=exc.status,
    )


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = request.url.path
    return redirect("/login?" + urlencode({"next": target}))


class UIRoute(APIRoute):
    """Pages: a ModelbayError becomes an HTML error page, a missing session a redirect to the
    login form, and a changed session is written back to its cookie."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                refuse_nul_in_query(request)
                response = await handler(request)
            except LoginRequired:
                response = login_redirect(request)
            except ModelbayError as exc:
                response = error_page(request, exc)
            except RequestValidationError as exc:
                problem = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in problem.get("loc", ())[1:]) or "request"
                message = f"invalid {where}: {problem.get('msg', 'not understood')}"
                response = error_page(request, InvalidInputError(message))
            except Exception as exc:  # the page still answers as a page; the log has the rest
                log.exception("unexpected error on %s", request.url.path, exc_info=exc)
                response = error_page(
                    request, ServerError("internal server error; see the server log")
                )
            return save_session(request, response)

        return handle


class DataRoute(APIRoute):
    """JSON endpoints of the UI: errors keep the API's JSON shape; the session is written back."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            refuse_nul_in_query(request)
            return save_session(request, await handler(request))

        return handle


def save_session(request: Request, response: Response) -> Response:
    session = getattr(request.state, "ui_session", None)
    if isinstance(session, Session) and session.dirty:
        ui_state(request).codec.save(request, response, session)
    return response


# -- templates ------------------------------------------------------------------------------


def _static_versions() -> dict[str, str]:
    out = {}
    for path in STATIC.iterdir():
        if path.is_file():
            out[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    return out


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    versions = _static_versions()
    env.globals.update(
        static=lambda name: f"/-/static/{name}?v={versions.get(name, '0')}",
        qs=query_string,
        ref_url=ref_url,
        run_url=run_url,
        json_data=lambda value: json_for_html(value),
    )
    env.filters.update(
        markdown=render_markdown,
        ago=ago,
        when=when,
        size=format_size,
        num=number,
        duration=duration,
        pretty=lambda v: json.dumps(v, indent=2, sort_keys=True, default=str),
        urlpath=lambda s: quote(str(s), safe=""),
        short=lambda s, n=12: str(s)[:n],
        plural=lambda n, word: f"{n} {word}" + ("" if n == 1 else "s"),
    )
    return env


def json_for_html(value: Any) -> str:
    """JSON for a ``<script type="application/json">`` block: NaN and infinity become null,
    and ``<``, ``>``, ``&`` are escaped so that nothing can close the block."""
    text = json.dumps(_finite(value), separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def query_string(request: Request, **changes: Any) -> str:
    """The request's query string with ``changes`` applied (None removes a key)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return "?" + urlencode(params) if params else "?"


def ref_url(info: dict[str, Any]) -> str:
    """The page of a version description (a registry version when it has a link)."""
    link = info.get("link")
    if link:
        return (
            f"/registries/{quote(link['registry'])}/{quote(link['collection'])}/{link['version']}"
        )
    return f"/projects/{quote(info['project'])}/artifacts/{quote(info['name'])}/{info['version']}"


def run_url(project: str, run_id: str) -> str:
    return f"/projects/{quote(project)}/runs/{quote(run_id)}"


def when(t: float | None) -> str:
    if t is None:
        return ""
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(t: float | None, now: float | None = None) -> str:
    if t is None:
        return ""
    seconds = (now if now is not None else dt.datetime.now(dt.UTC).timestamp()) - t
    if seconds < 45:
        return "just now"
    for size, unit in (
        (86400 * 365, "year"),
        (86400 * 30, "month"),
        (86400, "day"),
        (3600, "hour"),
        (60, "minute"),
    ):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    return "just now"


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return ""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def number(value: Any) -> str:
    """A metric for a table cell: 4 significant digits, integers as they are."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    return str(value)


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
