"""The teams page: every team with its members and their roles (admin or member). The
team's admins and organization admins add and remove members and change roles there;
organization admins create teams. Changes go through the services as the signed-in user."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelbay.errors import InvalidInputError
from modelbay.server.ui.registry import act, required
from modelbay.server.ui.web import Posted, Svc, UIRoute, Who, render
from modelbay.services import Principal, Services

router = APIRouter(route_class=UIRoute, include_in_schema=False)
PATH = "/settings/teams"
TEAM_ROLES = ("member", "admin")


def teams_page(
    request: Request,
    svc: Services,
    who: Principal,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    teams = [
        {**t, "manages": who.is_admin or who.name in t["admins"]} for t in svc.access.teams(who)
    ]
    return render(
        request,
        "teams.html",
        {
            "title": "Teams",
            "nav": "teams",
            "here": PATH,
            "teams": teams,
            "roles": TEAM_ROLES,
            "errors": errors or {},
            "values": values or {},
        },
        status=status,
    )


@router.get(PATH)
def teams_view(request: Request, svc: Svc, who: Who) -> Response:
    return teams_page(request, svc, who)


def _change(svc: Services, who: Principal, action: str, form: Any) -> str:
    if action == "create_team":
        made = svc.access.create_team(who, required(form.get("team"), "a team name"))
        return f"Created team {made['name']}."
    team = required(form.get("team"), "a team")
    user = required(form.get("user"), "a user name")
    if action == "add_member":
        role = form.get("role") or None
        done = svc.access.add_team_member(who, team, user, role=role)
        held = "admin" if user in done["admins"] else "member"
        return f"{user} is {held} of team {team}."
    if action == "remove_member":
        svc.access.remove_team_member(who, team, user)
        return f"Removed {user} from team {team}."
    raise InvalidInputError(f"unknown action {action[:40]!r}")


@router.post(PATH)
def teams_action(request: Request, form: Posted, svc: Svc, who: Who) -> Response:
    action = form.get("action")
    # Errors are shown beside the form of the team they concern.
    where = f"{action}:{form.get('team')}" if action != "create_team" else action
    return act(
        request,
        where,
        lambda: (_change(svc, who, action, form), None),
        lambda errors, status: teams_page(
            request, svc, who, errors=errors, values=form.values(), status=status
        ),
    )
