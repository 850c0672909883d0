"""Accounts: API keys, service accounts, passwords, and the organization's audit log.

Declared in their own area (listed in ``operations.AREAS``), with their request and
response models.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from modelbay.contract import entities as e
from modelbay.contract import requests as r
from modelbay.contract.declaration import Access, Operation
from modelbay.contract.fields import Int64, Text

USER, ADMIN = Access.USER, Access.ADMIN

# -- requests --------------------------------------------------------------------------------


class KeysQuery(r.Request):
    #: Whose keys: the caller's by default; another user's for an admin, or a service
    #: account's for an admin of its team.
    user: r.Name | None = None
    #: Every user's keys (organization admins).
    all: bool = False
    renames = {"all": "all_users"}


class KeyCreate(r.Request):
    name: Text | None = Field(default=None, max_length=256)
    #: Seconds until the key stops working (none: it works until revoked).
    expires_in: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    user: r.Name | None = None


class KeyPath(r.Request):
    key_id: Int64


class ServiceAccountCreate(r.Request):
    name: r.Name
    team: r.Name


class Password(r.Request):
    #: 8 to 1024 characters (the service says so when not).
    password: Text = Field(max_length=1024)


class UserPassword(Password):
    user: r.Name

    def service_args(self) -> dict[str, Any]:
        return {"name": self.user, "password": self.password}


class AuditFilters(r.Request):
    """Which events: every filter given must hold."""

    actor: Text | None = Field(default=None, max_length=128)
    #: An action (``alias.added``), or a prefix of actions ending in ``*`` (``alias.*``).
    action: Text | None = Field(default=None, max_length=64)
    #: An object's name (``model-registry/MNIST``, ``user/alice``); finds what it holds too.
    object: Text | None = Field(default=None, max_length=512)
    #: From this time (seconds since the epoch).
    since: float | None = Field(default=None, allow_inf_nan=False)
    #: Before this time (excluded).
    until: float | None = Field(default=None, allow_inf_nan=False)
    renames = {"object": "subject"}


class AuditQuery(AuditFilters):
    limit: int = Field(default=100, ge=1, le=10_000)
    page_token: Text | None = Field(default=None, max_length=32)


# -- responses -------------------------------------------------------------------------------


class Key(e.Entity):
    id: int
    user: str
    name: str | None
    #: The key's first characters, to tell keys apart.
    prefix: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    state: str


class KeyCreated(Key):
    #: The key itself, shown this once.
    key: str


class Keys(e.Entity):
    keys: list[Key]


class User(e.Entity):
    name: str
    is_admin: bool
    created_at: float
    has_password: bool
    #: The team owning a service account; None for a person.
    team: str | None


class Users(e.Entity):
    users: list[User]


class ServiceAccountCreated(e.UserCreated):
    team: str


class AuditPage(e.Entity):
    events: list[e.Event]
    next_page_token: str | None = None


class AuditCsv(e.Entity):
    """CSV (``text/csv``): a header row ``id,time,actor,action,subject,before,after``, then
    one row per event, newest first; times in ISO 8601 UTC, ``before`` and ``after`` as
    JSON (empty when none)."""


# -- operations ------------------------------------------------------------------------------

KEYS = Operation(
    "keys", "GET", "/keys", KeysQuery, Keys, service="auth.list_keys", access=USER,
    errors=(403, 404), wraps="keys", tag="users",
    summary="API keys (never the keys themselves): the caller's, a user's, or everyone's.",
)
CREATE_KEY = Operation(
    "create_key", "POST", "/keys", KeyCreate, KeyCreated, service="auth.create_key",
    access=USER, errors=(404,), status=201, tag="users",
    summary="Create a named API key, optionally expiring (shown once).",
)
REVOKE_KEY = Operation(
    "revoke_key", "DELETE", "/keys/{key_id}", KeyPath, e.Empty, service="auth.revoke_key",
    access=USER, errors=(404,), tag="users",
    summary="Revoke an API key: requests with it are refused from now on.",
)
USERS = Operation(
    "users", "GET", "/users", r.NoArgs, Users, service="auth.users", access=ADMIN,
    errors=(403,), wraps="users", tag="users",
    summary="Every user and service account.",
)
CREATE_SERVICE_ACCOUNT = Operation(
    "create_service_account", "POST", "/service-accounts", ServiceAccountCreate,
    ServiceAccountCreated, service="auth.create_service_account", access=ADMIN,
    errors=(403, 404, 409), status=201, tag="users",
    summary="Create a service account owned by a team, and its first API key (shown once).",
)
SET_PASSWORD = Operation(
    "set_password", "PUT", "/password", Password, e.Empty, service="auth.set_own_password",
    access=USER, tag="users",
    summary="Set the caller's own password (for the web UI).",
)
SET_USER_PASSWORD = Operation(
    "set_user_password", "PUT", "/users/{user}/password", UserPassword, e.Empty,
    service="auth.set_password", access=ADMIN, errors=(403, 404), tag="users",
    summary="Set a user's password.",
)
AUDIT = Operation(
    "audit", "GET", "/audit", AuditQuery, AuditPage, service="audit.events", access=ADMIN,
    errors=(403,), tag="admin",
    summary="The organization's audit log: every event, filtered, newest first, paged.",
)
AUDIT_CSV = Operation(
    "audit_csv", "GET", "/audit.csv", AuditFilters, AuditCsv, service="audit.export_csv",
    access=ADMIN, errors=(403,), custom=True, media_type="text/csv", tag="admin",
    summary="The audit log as CSV: the listing's filters, every matching event, newest first.",
)
