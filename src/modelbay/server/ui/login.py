"""Sign in (an API key, or a user name and password), sign out, and one-time login links."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelbay.errors import (
    AuthenticationError,
    InvalidInputError,
    ModelbayError,
    RateLimitedError,
)
from modelbay.server.ui.web import (
    Posted,
    Svc,
    UIRoute,
    redirect,
    render,
    safe_next,
    services,
    session_of,
)
from modelbay.services import Principal, Services

router = APIRouter(route_class=UIRoute, include_in_schema=False)

#: Failed sign-ins within 5 minutes after which a user name, or a client address, is refused
#: for the rest of those minutes.
USER_FAILURES = 10
CLIENT_FAILURES = 100


def _signed_in(request: Request) -> Principal | None:
    token = session_of(request).token
    return services(request).sessions.principal(token) if token is not None else None


def _start_session(request: Request, svc: Services, who: Principal) -> None:
    session = session_of(request)
    session.log_in(svc.sessions.start(who))
    session.flash(f"Signed in as {who.name}.")


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    if _signed_in(request) is not None:
        return redirect(safe_next(next))
    return render(request, "login.html", {"next": safe_next(next), "title": "Sign in"})


@router.post("/login")
def login(request: Request, form: Posted, svc: Svc) -> Response:
    target = safe_next(form.get("next"))
    key = form.get("key").strip()
    name = form.get("username").strip()
    password = form.get("password")
    user = f"user:{name.lower()}" if name and not key else None
    client = f"client:{request.client.host if request.client else '?'}"
    limits = {client: CLIENT_FAILURES} | ({user: USER_FAILURES} if user else {})
    throttle = svc.sessions
    try:
        throttle.check_throttle(limits)
        try:
            if key:
                who = svc.auth.authenticate(key)
            elif name or password:
                if not name or not password:
                    raise InvalidInputError("enter both a user name and a password")
                who = svc.auth.authenticate_password(name, password)
            else:
                raise InvalidInputError("enter an API key, or a user name and password")
        except AuthenticationError:
            throttle.sign_in_failed(list(limits))
            raise
    except ModelbayError as exc:
        values = {"username": name, "next": target}
        page = render(
            request,
            "login.html",
            {
                "next": target,
                "title": "Sign in",
                "errors": {"login": exc.message},
                "values": values,
            },
            status=exc.status,
        )
        if isinstance(exc, RateLimitedError):
            page.headers["Retry-After"] = str(exc.details["retry_after"])
        return page
    if user:
        throttle.sign_in_succeeded(user)
    _start_session(request, svc, who)
    return redirect(target)


@router.post("/logout")
def logout(request: Request, form: Posted, svc: Svc) -> Response:
    """Sign out: the session ends in the database, so a copy of the cookie is refused too."""
    session = session_of(request)
    svc.sessions.end(session.token, _signed_in(request))
    session.clear()
    return redirect("/login")


@router.get("/login/once/{token}")
def login_once(request: Request, token: str, svc: Svc) -> Response:
    who = svc.sessions.redeem_link(token)
    if who is None:
        raise AuthenticationError(
            "this sign-in link was used already or has expired: sign in with an API key, or "
            "ask for a new link"
        )
    _start_session(request, svc, who)
    return redirect("/")
