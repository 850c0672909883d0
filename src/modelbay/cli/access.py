"""``modelbay registry``: create a registry; its settings, members and roles, and its
protected aliases (which only its admins may add, move or remove)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from modelbay.cli.common import (
    JsonFlag,
    fail_on_error,
    fmt_list,
    fmt_time,
    group,
    print_json,
    print_table,
    registry_name,
    transport,
)

RegistryArg = Annotated[
    str, typer.Argument(help="The registry: model, or model-registry.", metavar="REGISTRY")
]
MemberArg = Annotated[
    str,
    typer.Argument(
        help="A user or team name (write user:NAME or team:NAME when both exist).",
        metavar="USER_OR_TEAM",
    ),
]
PatternsArg = Annotated[
    list[str],
    typer.Argument(help="Alias names or globs such as 'prod-*'.", metavar="ALIAS..."),
]
Visibility = Annotated[
    str | None,
    typer.Option(
        "--visibility",
        metavar="organization|restricted",
        help="organization: every user may read it; restricted: its members only.",
    ),
]
ROLE_HELP = "admin, member, viewer or restricted_viewer."


def register(app: typer.Typer) -> None:
    registry = group("A registry's settings, members and protected aliases.")
    registry.command("create")(registry_create)
    registry.command("show")(registry_show)
    registry.command("set")(registry_set)
    registry.command("protect")(protect)
    registry.command("unprotect")(unprotect)
    member = group("Users and teams holding a role in a registry.")
    member.command("add")(member_add)
    member.command("remove")(member_remove)
    member.command("list")(member_list)
    registry.add_typer(member, name="member")
    app.add_typer(registry, name="registry")


def registry_create(
    name: Annotated[str, typer.Argument(help="The new registry's name.", metavar="NAME")],
    visibility: Visibility = "organization",
    description: Annotated[
        str | None, typer.Option("--description", metavar="TEXT", help="What it holds.")
    ] = None,
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            metavar="TYPE",
            help="An accepted artifact type or glob, e.g. 'model' (repeatable; default any).",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a custom registry (organization admins)."""
    from modelbay.sdk.api import Api

    with fail_on_error(as_json):
        created = Api().create_registry(
            registry_name(name),
            visibility=visibility or "organization",  # type: ignore[arg-type]  # checked
            description=description,
            artifact_types=types or None,
        )
    if as_json:
        print_json(created.info)
    else:
        typer.echo(f"created registry {created.name} ({created.visibility})")


def _registry(name: str) -> dict[str, Any]:
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq

    path = rq.RegistryPath(registry=registry_name(name))
    return transport().call(ops.REGISTRY, path).model_dump()


def _members(name: str) -> list[dict[str, Any]]:
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq

    request = rq.RegistryName(registry=registry_name(name))
    return [m.model_dump() for m in transport().call(ops.REGISTRY_MEMBERS, request).members]


def registry_show(registry: RegistryArg, as_json: JsonFlag = False) -> None:
    """Show a registry's settings and members.

    Also your role in it and its protected aliases.
    """
    with fail_on_error(as_json):
        info = _registry(registry)
        members = _members(registry)
    if as_json:
        print_json({**info, "members": members})
        return
    typer.echo(
        f"{info['name']}-registry  ({info['visibility']}; your role: {info.get('role')})\n"
        f"accepts: {fmt_list(info.get('artifact_types') or ['*'])}\n"
        f"approvals needed per promotion: {info.get('required_approvals', 1)}\n"
        f"protected aliases: {fmt_list(info.get('protected_aliases') or []) or '-'}"
    )
    _print_members(members)


def registry_set(
    registry: RegistryArg,
    visibility: Visibility = None,
    approvals: Annotated[
        int | None,
        typer.Option(
            "--approvals",
            min=1,
            max=100,
            metavar="N",
            help="Approvals a promotion request needs before its alias moves.",
        ),
    ] = None,
    types: Annotated[
        list[str] | None,
        typer.Option("--type", metavar="TYPE", help="Accepted artifact types (repeatable)."),
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", metavar="TEXT", help="What it holds.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a registry's settings (its admins)."""
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq
    from modelbay.errors import InvalidInputError

    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "visibility": visibility,
            "required_approvals": approvals,
            "artifact_types": types or None,
            "description": description,
        }.items()
        if v is not None
    }
    with fail_on_error(as_json):
        if not changes:
            raise InvalidInputError(
                "nothing to change: give --visibility, --approvals, --type or --description"
            )
        request = rq.RegistryUpdate(registry=registry_name(registry), **changes)
        info = transport().call(ops.UPDATE_REGISTRY, request).model_dump()
    if as_json:
        print_json(info)
    else:
        typer.echo(
            f"{info['name']}-registry: {info['visibility']}, accepts "
            f"{fmt_list(info.get('artifact_types') or ['*'])}, "
            f"{info['required_approvals']} approval(s) per promotion"
        )


def _member(text: str) -> dict[str, str]:
    """``{"user": name}`` or ``{"team": name}``."""
    from modelbay.sdk.registry_admin import member_name

    kind, name = member_name(transport(), text)
    return {kind: name}


def member_add(
    registry: RegistryArg,
    member: MemberArg,
    role: Annotated[str, typer.Option("--role", metavar="ROLE", help=ROLE_HELP)],
    as_json: JsonFlag = False,
) -> None:
    """Give a user or team a role in a registry.

    For the registry's admins; a member who holds a role already gets the new one.
    """
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq
    from modelbay.sdk.registry_admin import check_role

    with fail_on_error(as_json):
        request = rq.RegistryMemberAdd(
            registry=registry_name(registry),
            role=check_role(role),  # type: ignore[arg-type]  # checked by check_role
            **_member(member),
        )
        added = transport().call(ops.ADD_REGISTRY_MEMBER, request).model_dump()
    if as_json:
        print_json(added)
    else:
        typer.echo(f"{added['kind']} {added['name']} is {added['role']} in {request.registry}")


def member_remove(registry: RegistryArg, member: MemberArg, as_json: JsonFlag = False) -> None:
    """Take a user's or team's role in a registry away (its admins)."""
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq

    with fail_on_error(as_json):
        who = _member(member)
        request = rq.RegistryMember(registry=registry_name(registry), **who)
        transport().call(ops.REMOVE_REGISTRY_MEMBER, request)
    ((kind, name),) = who.items()
    if as_json:
        print_json({"registry": request.registry, "removed": {"kind": kind, "name": name}})
    else:
        typer.echo(f"removed {kind} {name} from {request.registry}")


def member_list(registry: RegistryArg, as_json: JsonFlag = False) -> None:
    """List the users and teams holding a role in a registry."""
    with fail_on_error(as_json):
        members = _members(registry)
    if as_json:
        print_json(members)
    else:
        _print_members(members)


def _print_members(members: list[dict[str, Any]]) -> None:
    print_table(
        ["member", "kind", "role", "since"],
        ([m["name"], m["kind"], m["role"], fmt_time(m["created_at"])] for m in members),
    )


def protect(registry: RegistryArg, patterns: PatternsArg, as_json: JsonFlag = False) -> None:
    """Protect aliases: only admins may move them.

    Only the registry's admins may then add, move or remove an alias a name or
    glob covers; others ask with 'modelbay promote'.
    """
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq

    with fail_on_error(as_json):
        name = registry_name(registry)
        found: list[str] = []
        for pattern in patterns:
            request = rq.ProtectedAlias(registry=name, pattern=pattern)
            found = transport().call(ops.PROTECT_ALIAS, request).protected_aliases
    if as_json:
        print_json({"registry": name, "protected_aliases": found})
    else:
        typer.echo(f"protected in {name}: {fmt_list(found)}")


def unprotect(registry: RegistryArg, patterns: PatternsArg, as_json: JsonFlag = False) -> None:
    """Stop protecting aliases (the registry's admins)."""
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq

    with fail_on_error(as_json):
        name = registry_name(registry)
        for pattern in patterns:
            request = rq.ProtectedAlias(registry=name, pattern=pattern)
            transport().call(ops.UNPROTECT_ALIAS, request)
        left = transport().call(ops.PROTECTED_ALIASES, rq.RegistryName(registry=name))
    if as_json:
        print_json({"registry": name, "protected_aliases": left.protected_aliases})
    else:
        typer.echo(f"protected in {name}: {fmt_list(left.protected_aliases) or '-'}")
