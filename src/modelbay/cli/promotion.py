"""Promotion: ``modelbay promote`` moves a protected alias (a registry admin) or asks for it
(a member); ``modelbay requests`` lists what waits, ``approve`` and ``reject`` decide, and
``withdraw`` takes a pending request back."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from modelbay import names
from modelbay.cli.common import (
    JsonFlag,
    fail_on_error,
    fmt_list,
    fmt_time,
    parse,
    print_json,
    print_table,
    registry_name,
    transport,
)

STATES = ("pending", "approved", "rejected", "stale", "cancelled", "all")
IdArg = Annotated[int, typer.Argument(help="The request's number.", metavar="ID", min=1)]


def register(app: typer.Typer) -> None:
    app.command("promote")(promote)
    app.command("requests")(requests)
    app.command("approve")(approve)
    app.command("reject")(reject)
    app.command("withdraw")(withdraw)


def promote(
    ref: Annotated[
        str, typer.Argument(help="A registry version: model-registry/MNIST:v3.", metavar="REF")
    ],
    alias: Annotated[str, typer.Argument(help="The alias, e.g. production.", metavar="ALIAS")],
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason", metavar="TEXT", help="Why; the reviewers read it (a request needs one)."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Point ALIAS at REF, or ask the registry's admins to.

    A registry admin's promote moves the alias at once (so does anyone's, for an alias
    that is not protected). A member's promote of a protected alias makes a request that
    waits for approval: see 'modelbay requests'.
    """
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq
    from modelbay.errors import InvalidReferenceError

    with fail_on_error(as_json):
        parsed = parse(ref)
        if not isinstance(parsed, names.RegistryRef):
            raise InvalidReferenceError(
                f"{ref!r} is an artifact version: promote takes a registry version such as "
                f"'{names.registry_ref('model', parsed.name)}:v0'",
                {"ref": ref},
            )
        request = rq.PromotionCreate(
            registry=parsed.registry,
            collection=parsed.collection,
            selector=parsed.selector,
            alias=alias,
            reason=reason,
        )
        done = transport().call(ops.PROMOTE, request).model_dump()
    if as_json:
        print_json(done)
    elif done["state"] == "approved":
        typer.echo(f"{done['alias']} -> {done['ref']}")
    else:
        typer.echo(
            f"requested {done['alias']} -> {done['ref']}: request {done['id']} waits for "
            f"{done['required_approvals']} approval(s) by an admin of registry "
            f"{done['registry']} ('modelbay approve {done['id']}')"
        )


def requests(
    registry: Annotated[
        str | None,
        typer.Option("--registry", "-r", metavar="NAME", help="Only this registry's."),
    ] = None,
    state: Annotated[
        str,
        typer.Option("--state", metavar="STATE", help=f"One of {', '.join(STATES)}."),
    ] = "pending",
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=1000, metavar="N", help="At most this many.")
    ] = 100,
    as_json: JsonFlag = False,
) -> None:
    """List promotion requests, newest first.

    Pending ones, unless --state says otherwise.
    """
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq
    from modelbay.errors import InvalidInputError

    with fail_on_error(as_json):
        if state not in STATES:
            raise InvalidInputError(f"invalid state {state!r}: use {', '.join(STATES)}")
        if registry is not None:
            wanted = [registry_name(registry)]
        else:
            wanted = [r.name for r in transport().call(ops.REGISTRIES, rq.NoArgs()).registries]
        found: list[dict[str, Any]] = []
        for name in wanted:
            query = rq.PromotionsQuery(
                registry=name,
                state=None if state == "all" else state,  # type: ignore[arg-type]  # checked
                limit=limit,
            )
            found += [p.model_dump() for p in transport().call(ops.PROMOTIONS, query).requests]
        found = sorted(found, key=lambda p: -p["id"])[:limit]
    if as_json:
        print_json(found)
        return
    print_table(
        ["id", "state", "version", "alias", "by", "reason", "approvals", "asked"],
        (
            [
                p["id"],
                p["state"],
                p["ref"],
                p["alias"],
                p["requester"],
                p["reason"],
                _approvals(p),
                fmt_time(p["created_at"]),
            ]
            for p in found
        ),
    )


def _approvals(p: dict[str, Any]) -> str:
    approved = [r["user"] for r in p["reviews"] if r["decision"] == "approved"]
    text = f"{len(approved)}/{p['required_approvals']}"
    return f"{text} ({fmt_list(approved)})" if approved else text


def _decide(request_id: int, approve: bool, comment: str | None, as_json: bool) -> None:
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq

    with fail_on_error(as_json):
        review = rq.PromotionReview(request_id=request_id, comment=comment)
        done = transport().call(ops.APPROVE if approve else ops.REJECT, review).model_dump()
    if as_json:
        print_json(done)
    elif done["state"] == "approved":
        typer.echo(f"approved request {done['id']}: {done['alias']} -> {done['ref']}")
    elif done["state"] == "pending":
        typer.echo(
            f"approved request {done['id']}: {_approvals(done)} approvals, "
            f"{done['alias']} moves at {done['required_approvals']}"
        )
    else:
        typer.echo(f"rejected request {done['id']} ({done['alias']} on {done['ref']})")


def approve(
    request_id: IdArg,
    comment: Annotated[
        str | None, typer.Option("--comment", metavar="TEXT", help="A note for the record.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Approve a promotion request.

    For a registry's admins, and not of their own requests. The last approval the registry needs moves the alias.
    """
    _decide(request_id, True, comment, as_json)


def reject(
    request_id: IdArg,
    reason: Annotated[
        str | None, typer.Option("--reason", metavar="TEXT", help="Why, for the requester.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Reject a promotion request (registry admins)."""
    _decide(request_id, False, reason, as_json)


def withdraw(request_id: IdArg, as_json: JsonFlag = False) -> None:
    """Withdraw a pending promotion request.

    One's own, or anyone's for an admin of its registry; the alias stays where it is.
    """
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq

    with fail_on_error(as_json):
        done = transport().call(
            ops.CANCEL_PROMOTION, rq.PromotionPath(request_id=request_id)
        ).model_dump()
    if as_json:
        print_json(done)
    else:
        typer.echo(f"withdrew request {done['id']} ({done['alias']} on {done['ref']})")
