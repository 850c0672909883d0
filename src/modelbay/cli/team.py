"""``modelbay team``: named groups of users, which hold roles in registries and projects."""

from __future__ import annotations

from typing import Annotated

import typer

from modelbay.cli.common import (
    JsonFlag,
    fail_on_error,
    fmt_list,
    group,
    print_json,
    print_table,
    transport,
)


def register(app: typer.Typer) -> None:
    team = group("Teams: groups of users holding roles.")
    team.command("create")(team_create)
    team.command("add")(team_add)
    team.command("remove")(team_remove)
    team.command("list")(team_list)
    app.add_typer(team, name="team")


TeamArg = Annotated[str, typer.Argument(help="The team's name.", metavar="TEAM")]
UsersArg = Annotated[list[str], typer.Argument(help="User names.", metavar="USER...")]


def team_create(name: TeamArg, as_json: JsonFlag = False) -> None:
    """Create a team (organization admins)."""
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq

    with fail_on_error(as_json):
        team = transport().call(ops.CREATE_TEAM, rq.TeamCreate(name=name))
    if as_json:
        print_json(team.model_dump())
    else:
        typer.echo(f"created team {team.name}")


def team_add(
    team: TeamArg,
    users: UsersArg,
    role: Annotated[
        str | None,
        typer.Option(
            "--role",
            metavar="ROLE",
            help="admin (manages the team's members and its service accounts' keys) or "
            "member; by default member for a new member, unchanged for one in the team.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add users to a team, or change their role in it.

    Organization admins and the team's admins only.
    """
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq
    from modelbay.errors import InvalidInputError

    with fail_on_error(as_json):
        if role not in (None, "admin", "member"):
            raise InvalidInputError(f"invalid team role {role!r}: use admin or member")
        for user in users:
            request = rq.TeamMemberAdd(team=team, user=user, role=role)  # type: ignore[arg-type]
            found = transport().call(ops.ADD_TEAM_MEMBER, request)
    if as_json:
        print_json(found.model_dump())
    else:
        typer.echo(f"team {team}: {_members(found.members, found.admins)}")


def team_remove(team: TeamArg, users: UsersArg, as_json: JsonFlag = False) -> None:
    """Take users out of a team (organization and team admins)."""
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq

    with fail_on_error(as_json):
        for user in users:
            transport().call(ops.REMOVE_TEAM_MEMBER, rq.TeamMember(team=team, user=user))
    if as_json:
        print_json({"team": team, "removed": users})
    else:
        typer.echo(f"removed {fmt_list(users)} from team {team}")


def team_list(as_json: JsonFlag = False) -> None:
    """List the teams and their members."""
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq

    with fail_on_error(as_json):
        teams = transport().call(ops.TEAMS, rq.NoArgs()).teams
    if as_json:
        print_json([t.model_dump() for t in teams])
        return
    print_table(["team", "members"], ([t.name, _members(t.members, t.admins)] for t in teams))


def _members(members: list[str], admins: list[str]) -> str:
    """Members' names, admins marked: ``ann (admin), bob``."""
    return fmt_list([f"{m} (admin)" if m in admins else m for m in members])
