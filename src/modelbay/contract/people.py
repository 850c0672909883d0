"""People: one user looked up by name, for ``Api().user(name)`` and for naming a member.

Declared in its own module (an area of :mod:`modelbay.contract.operations`), with its
request and response models.
"""

from __future__ import annotations

from modelbay.contract.declaration import Access, Operation
from modelbay.contract.entities import Entity
from modelbay.contract.fields import Text
from modelbay.contract.requests import Request


class UserPath(Request):
    user: Text


class User(Entity):
    """A user as others see them: the name, whether an organization admin, their teams."""

    name: str
    is_admin: bool
    teams: list[str]


USER = Operation(
    "user",
    "GET",
    "/users/{user}",
    UserPath,
    User,
    service="access.user",
    access=Access.USER,
    errors=(404,),
    tag="access",
    summary="One user by name: admin or not, and their teams.",
)
