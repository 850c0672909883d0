"""What an operation declaration holds: access, roles, and the :class:`Operation` itself.

Kept apart from the declarations so that each area's module (``contract/<area>.py``) can
declare its operations next to its request and response models.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from modelbay.contract import entities as e
from modelbay.contract import requests as r

Req = TypeVar("Req", bound=r.Request)
Resp = TypeVar("Resp", bound=e.Entity)


class Access(enum.Enum):
    """Who may call an operation (the services apply the finer rules of each object)."""

    #: Anyone, without a key.
    PUBLIC = "public"
    #: Any signed-in user (read what they may read, change what they may change).
    USER = "user"
    #: Organization admins only.
    ADMIN = "admin"
    #: Organization admins and the admins of the team the call names (checked by the
    #: service; anyone else is answered 403, as teams are listed to every user).
    TEAM_ADMIN = "team_admin"


class Role(enum.IntEnum):
    """A role in a registry or a project, lowest to highest (W&B Registry's meanings)."""

    #: Sees the registry, its collections and versions, but cannot download files.
    RESTRICTED_VIEWER = 1
    #: Reads and downloads.
    VIEWER = 2
    #: Links and unlinks versions, sets aliases and tags, edits descriptions; in a project,
    #: logs runs and commits versions.
    MEMBER = 3
    #: Manages members, roles, protected aliases, visibility and accepted types.
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls[value.upper()]
        except KeyError:
            raise ValueError(f"unknown role {value!r}") from None


#: How the server runs the service call: ``thread`` in a worker thread; ``read`` and
#: ``write`` inline on SQLite when that cannot wait on a lock (see server/api/deps.py).
Runner = Literal["thread", "read", "write"]

#: The error statuses any operation with a key may answer (507: the database's disk is full,
#: which a read meets too when SQLite cannot open a connection).
COMMON_ERRORS = (400, 401, 413, 429, 507)

#: The most bytes a request body may hold, unless its operation declares otherwise.
MAX_BODY_BYTES = 32 << 20


@dataclass(frozen=True)
class Operation(Generic[Req, Resp]):
    name: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    request: type[Req]
    response: type[Resp]
    #: ``group.method`` of :class:`modelbay.services.Services`, called as
    #: ``method(principal, **request.service_args())``.
    service: str
    access: Access
    summary: str
    #: The role the caller needs in the registry or project the call names (in its path,
    #: its reference or its promotion request); a caller with no role there at all is
    #: answered 404, as if it did not exist. None: no object-level rule (listings filter
    #: what they return).
    role: Role | None = None
    #: The statuses this operation may answer besides 2xx and :data:`COMMON_ERRORS`.
    errors: tuple[int, ...] = ()
    #: The service returns ``(entity, created)``: 201 when created, else 200.
    creates: bool = False
    #: The service returns a list (or mapping) that the response holds under this key.
    wraps: str | None = None
    run: Runner = "thread"
    #: The status of success when the service returns one entity (201 for a creation).
    status: int = 200
    #: The response may hold NaN and the infinities (metric values), written as JSON does
    #: not allow but Python and JavaScript read.
    nonfinite: bool = False
    #: The route is written by hand in server/api (it streams a body); declared for the spec.
    custom: bool = False
    #: The media type of the success body; other than JSON only for a ``custom`` route,
    #: whose body the spec then describes as text of that type.
    media_type: str = "application/json"
    tag: str = "general"
    #: The most bytes its request body may hold; the server answers 413 beyond it.
    max_body: int = MAX_BODY_BYTES
    #: Sending it twice has the effect of sending it once (the service dedupes it), so a
    #: client may send it again when its connection fails or a load balancer finds no
    #: replica to answer. None: by the method (GET, PUT, PATCH and DELETE are).
    idempotent: bool | None = None
    path_params: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        params = tuple(p.split("}")[0] for p in self.path.split("{")[1:])
        object.__setattr__(self, "path_params", params)

    @property
    def retry_safe(self) -> bool:
        if self.idempotent is not None:
            return self.idempotent
        return self.method in ("GET", "PUT", "PATCH", "DELETE")

    @property
    def has_body(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH")

    @property
    def success_status(self) -> int:
        if self.response is e.Empty:
            return 204
        return 201 if self.creates else self.status
