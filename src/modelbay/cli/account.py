"""Accounts: ``modelbay key create|list|revoke``, ``modelbay user create|list|password``
and ``modelbay audit`` (the organization's audit log, for its admins)."""

from __future__ import annotations

import csv
import sys
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from modelbay.cli.common import JsonFlag, fail_on_error, fmt_time, group, print_json, print_table
from modelbay.errors import InvalidInputError

UserOption = Annotated[
    str | None,
    typer.Option(
        "--user",
        metavar="NAME",
        help="Another user's keys (admins), or a service account's (members of its team).",
    ),
]


def register(app: typer.Typer) -> None:
    keys = group("API keys: create (shown once), list and revoke them.")
    keys.command("create")(key_create)
    keys.command("list")(key_list)
    keys.command("revoke")(key_revoke)
    app.add_typer(keys, name="key")

    users = group("Users and service accounts (admins), and passwords.")
    users.command("create")(user_create)
    users.command("list")(user_list)
    users.command("password")(user_password)
    app.add_typer(users, name="user")

    app.command("audit")(audit)


def _call(op: Any, request: Any) -> Any:
    """Call one operation through the SDK's transport (embedded, or ``MODELBAY_URL``)."""
    from modelbay.sdk.transport import connect

    return connect().call(op, request)


def parse_when(text: str) -> float:
    """A time: ISO 8601 (``2026-12-01``, ``2026-12-01T09:30``; UTC unless it says), or a
    duration ago (``24h``, ``7d``).

    Raises:
        InvalidInputError: neither.
    """
    from modelbay.cli.gc import parse_duration

    try:
        return time.time() - parse_duration(text)
    except InvalidInputError:
        pass
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"invalid time {text!r}: use e.g. 2026-12-01, 2026-12-01T09:30 or 24h (ago)"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


# -- keys ----------------------------------------------------------------------------------


def key_create(
    name: Annotated[
        str | None, typer.Option("--name", metavar="NAME", help="What the key is for.")
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires", metavar="DURATION", help="Stop working after this long (e.g. 90d)."
        ),
    ] = None,
    user: UserOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an API key; it is printed this once."""
    from modelbay.cli.gc import parse_duration
    from modelbay.contract import accounts

    with fail_on_error(as_json):
        seconds = parse_duration(expires) if expires is not None else None
        made = _call(
            accounts.CREATE_KEY, accounts.KeyCreate(name=name, expires_in=seconds, user=user)
        ).model_dump()
    if as_json:
        print_json(made)
        return
    until = f", expires {fmt_time(made['expires_at'])}" if made["expires_at"] else ""
    typer.echo(f"created key {made['id']} for {made['user']}{until} (shown once):", err=True)
    typer.echo(made["key"])


def key_list(
    user: UserOption = None,
    every: Annotated[bool, typer.Option("--all", help="Every user's keys (admins).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """List API keys (not the keys themselves): yours, or others'."""
    from modelbay.contract import accounts

    with fail_on_error(as_json):
        found = _call(accounts.KEYS, accounts.KeysQuery(user=user, all=every)).keys
    rows = [k.model_dump() for k in found]
    if as_json:
        print_json(rows)
        return
    print_table(
        ["id", "user", "name", "prefix", "created", "expires", "state"],
        [
            [
                k["id"],
                k["user"],
                k["name"],
                k["prefix"] + "…",
                fmt_time(k["created_at"]),
                fmt_time(k["expires_at"]),
                k["state"],
            ]
            for k in rows
        ],
    )


def key_revoke(
    key_id: Annotated[int, typer.Argument(metavar="ID", help="The key's id (modelbay key list).")],
    as_json: JsonFlag = False,
) -> None:
    """Revoke an API key: refused from now on, by every server."""
    from modelbay.contract import accounts

    with fail_on_error(as_json):
        _call(accounts.REVOKE_KEY, accounts.KeyPath(key_id=key_id))
    if as_json:
        print_json({"id": key_id, "state": "revoked"})
    else:
        typer.echo(f"revoked key {key_id}")


# -- users ---------------------------------------------------------------------------------


def user_create(
    name: Annotated[str, typer.Argument(help="The new user's name.")],
    admin: Annotated[bool, typer.Option("--admin", help="An organization admin.")] = False,
    team: Annotated[
        str | None,
        typer.Option(
            "--team",
            metavar="TEAM",
            help="Make a service account (no password, for CI) owned by this team.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a user (admins); prints their first API key, once."""
    from modelbay.contract import accounts
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq

    with fail_on_error(as_json):
        if team is not None:
            if admin:
                raise InvalidInputError("a service account cannot be an admin")
            request = accounts.ServiceAccountCreate(name=name, team=team)
            made = _call(accounts.CREATE_SERVICE_ACCOUNT, request).model_dump()
        else:
            made = _call(ops.CREATE_USER, rq.UserCreate(name=name, is_admin=admin)).model_dump()
    if as_json:
        print_json(made)
        return
    what = f"service account of team {team}" if team else ("admin" if admin else "user")
    typer.echo(f"created {what} {made['user']}; API key (shown once):", err=True)
    typer.echo(made["key"])


def user_list(as_json: JsonFlag = False) -> None:
    """List users and service accounts (admins)."""
    from modelbay.contract import accounts
    from modelbay.contract import requests as rq

    with fail_on_error(as_json):
        rows = [u.model_dump() for u in _call(accounts.USERS, rq.NoArgs()).users]
    if as_json:
        print_json(rows)
        return
    print_table(
        ["user", "admin", "service account of", "password", "created"],
        [
            [
                u["name"],
                "yes" if u["is_admin"] else "",
                u["team"] or "",
                "set" if u["has_password"] else "",
                fmt_time(u["created_at"]),
            ]
            for u in rows
        ],
    )


def user_password(
    name: Annotated[
        str | None, typer.Argument(help="Whose password (admins); yours when not given.")
    ] = None,
    from_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input."),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Set a password for the web UI (asked twice, hidden)."""
    from modelbay.contract import accounts

    with fail_on_error(as_json):
        if from_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
        if name is None:
            _call(accounts.SET_PASSWORD, accounts.Password(password=password))
        else:
            request = accounts.UserPassword(user=name, password=password)
            _call(accounts.SET_USER_PASSWORD, request)
    if as_json:
        print_json({"user": name, "password": "set"})
    else:
        typer.echo(f"password set{f' for {name}' if name else ''}; web sessions signed out")


# -- the audit log -------------------------------------------------------------------------

def audit(
    actor: Annotated[str | None, typer.Option(metavar="USER", help="Who acted.")] = None,
    action: Annotated[
        str | None,
        typer.Option(metavar="ACTION", help="e.g. alias.added, or a prefix: 'alias.*'."),
    ] = None,
    subject: Annotated[
        str | None,
        typer.Option(
            "--object",
            metavar="NAME",
            help="An object and what it holds (model-registry/MNIST, user/alice).",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(metavar="TIME", help="From this time: 2026-12-01[T09:30] (UTC), or 24h."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(metavar="TIME", help="Before this time (same forms).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many events.")] = 100,
    as_csv: Annotated[bool, typer.Option("--csv", help="Write CSV on stdout.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The organization's audit log, newest first (admins only)."""
    from modelbay.contract import accounts

    with fail_on_error(as_json):
        if as_csv and as_json:
            raise InvalidInputError("give --csv or --json, not both")
        start = parse_when(since) if since else None
        end = parse_when(until) if until else None
        events: list[dict[str, Any]] = []
        token: str | None = None
        while len(events) < limit:
            request = accounts.AuditQuery(
                actor=actor,
                action=action,
                object=subject,
                since=start,
                until=end,
                limit=min(1000, limit - len(events)),
                page_token=token,
            )
            page = _call(accounts.AUDIT, request)
            events.extend(e.model_dump() for e in page.events)
            token = page.next_page_token
            if token is None:
                break
    if as_json:
        print_json({"events": events, "next_page_token": token})
    elif as_csv:
        write_csv(events)
    else:
        print_table(
            ["id", "time", "actor", "action", "object"],
            [[e["id"], fmt_time(e["time"]), e["actor"], e["action"], e["subject"]] for e in events],
        )


def write_csv(events: list[dict[str, Any]]) -> None:
    """Events as CSV: times in ISO 8601 UTC, before and after as JSON."""
    from modelbay.audit_csv import CSV_COLUMNS, csv_row

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    out.writerows(csv_row(e) for e in events)
