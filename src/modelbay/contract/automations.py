"""Automations (issue #16): declared here, listed in ``operations.AREAS``.

Who may call them: an automation belongs to a scope (a registry, a collection, which is
its registry's, or a project), and every operation on it needs the **member** role
there, as W&B lets registry members create automations. Reading needs it too: an
automation's URL, headers and delivery history (request bodies) are the team's plumbing,
often credentials in all but name (a Slack URL is one), so viewers do not see them. The
listing shows only the automations of scopes where the caller is a member.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field

from modelbay.contract import entities as e
from modelbay.contract import requests as r
from modelbay.contract.declaration import Access, Operation, Role
from modelbay.contract.fields import Int64, Text

#: The CLI's and the API's names of the events an automation reacts to.
Event = Literal[
    "version-linked",
    "version-unlinked",
    "alias-added",
    "alias-removed",
    "tag-added",
    "tag-removed",
    "artifact-created",
    "run-finished",
    "run-failed",
    "run-crashed",
    "run-metric",
    "promotion-requested",
    "promotion-approved",
    "promotion-rejected",
]
EVENTS: tuple[str, ...] = get_args(Event)
#: A payload template's largest size (characters).
MAX_TEMPLATE = 64 * 1024
Scope = Annotated[Text, Field(max_length=300)]
Pattern = Annotated[Text, Field(max_length=256)]
Url = Annotated[Text, Field(max_length=2048)]
Key = Annotated[Text, Field(max_length=256)]
Value = Annotated[Text, Field(max_length=4096)]
Template = Annotated[Text, Field(max_length=MAX_TEMPLATE)]

# -- requests --------------------------------------------------------------------------------


class AutomationCreate(r.Request):
    name: r.Name
    #: ``registry:NAME``, ``collection:REGISTRY/NAME`` or ``project:NAME`` (``NAME-registry``
    #: and ``NAME-registry/COLLECTION`` are read as a registry and a collection).
    scope: Scope
    event: Event
    alias_regex: Pattern | None = None
    tag_regex: Pattern | None = None
    metric: Pattern | None = None
    metric_window: int | None = Field(default=None, ge=1, le=1000)
    metric_agg: Literal["avg", "min", "max"] | None = None
    metric_op: Literal[">", ">=", "<", "<=", "==", "!="] | None = None
    metric_value: float | None = None
    action: Literal["webhook", "slack", "job"]
    url: Url | None = None
    headers: dict[Pattern, Value] | None = Field(default=None, max_length=50)
    template: Template | None = None
    queue: r.Name | None = None
    #: The Standard Webhooks signing secret (``whsec_`` and base64); write-only.
    signing_secret: Pattern | None = None
    #: Named secrets for ``${NAME}`` in the template and headers; write-only.
    secrets: dict[Key, Value] | None = Field(default=None, max_length=20)
    concurrency: int = Field(default=4, ge=1, le=64)
    enabled: bool = True


class AutomationsQuery(r.Request):
    scope: Scope | None = None


class AutomationPath(r.Request):
    name: r.Name


class AutomationUpdate(AutomationPath):
    partial = frozenset({"enabled", "concurrency"})
    enabled: bool | None = None
    concurrency: int | None = Field(default=None, ge=1, le=64)


class DeliveriesQuery(AutomationPath):
    limit: int = Field(default=50, ge=1, le=1000)
    before: Int64 | None = None


class DeliveryPath(r.Request):
    delivery_id: Int64


# -- entities --------------------------------------------------------------------------------


class Automation(e.Entity):
    name: str
    #: ``registry:NAME``, ``collection:REGISTRY/NAME`` or ``project:NAME``.
    scope: str
    event: str
    alias_regex: str | None
    tag_regex: str | None
    metric: str | None
    metric_window: int | None
    metric_agg: str | None
    metric_op: str | None
    metric_value: float | None
    action: str
    #: The destination (a Slack URL, itself a credential, only as its host).
    url: str | None
    headers: dict[str, str]
    template: str | None
    queue: str | None
    #: Names of the stored secrets (their values are never returned).
    secret_names: list[str]
    signed: bool
    enabled: bool
    #: Why the automation was disabled (by its owner, or after failing deliveries).
    disabled_reason: str | None
    concurrency: int
    created_by: str | None
    created_at: float
    updated_at: float


class Automations(e.Entity):
    automations: list[Automation]


class DeliveryAttempt(e.Entity):
    started_at: float
    #: The request as sent, secrets redacted.
    request: dict[str, Any] | None
    status_code: int | None
    response_head: str | None
    latency_ms: float | None
    error: str | None
    exit_code: int | None
    duration: float | None
    output_tail: str | None


class Delivery(e.Entity):
    id: int
    automation: str
    #: The Standard Webhooks ``webhook-id``, the same on every attempt.
    message_id: str
    event_id: int | None
    action: str
    queue: str | None
    #: pending, succeeded, failed (not retried: refused, 410, a test) or dead (retries spent).
    state: str
    attempts: int
    next_attempt_at: float
    created_at: float
    updated_at: float
    history: list[DeliveryAttempt]


class Deliveries(e.Entity):
    deliveries: list[Delivery]


# -- operations ------------------------------------------------------------------------------

USER = Access.USER
AUTOMATION = "/automations/{name}"

CREATE_AUTOMATION = Operation(
    "create_automation", "POST", "/automations", AutomationCreate, Automation,
    service="automations.create", access=USER, role=Role.MEMBER, errors=(403, 404, 409),
    status=201, tag="automations",
    summary="Create an automation: a scope, an event and filters, and an action.",
)  # fmt: skip
LIST_AUTOMATIONS = Operation(
    "automations", "GET", "/automations", AutomationsQuery, Automations,
    service="automations.list_automations", access=USER, errors=(404,), wraps="automations",
    tag="automations",
    summary="The automations of the scopes where the caller is a member (of one scope).",
)  # fmt: skip
GET_AUTOMATION = Operation(
    "automation", "GET", AUTOMATION, AutomationPath, Automation, service="automations.get",
    access=USER, role=Role.MEMBER, errors=(403, 404), tag="automations",
    summary="One automation (its secrets' names only).",
)  # fmt: skip
UPDATE_AUTOMATION = Operation(
    "update_automation", "PATCH", AUTOMATION, AutomationUpdate, Automation,
    service="automations.update", access=USER, role=Role.MEMBER, errors=(403, 404),
    tag="automations",
    summary="Enable or disable an automation, or change its concurrency limit.",
)  # fmt: skip
DELETE_AUTOMATION = Operation(
    "delete_automation", "DELETE", AUTOMATION, AutomationPath, e.Empty,
    service="automations.delete", access=USER, role=Role.MEMBER, errors=(403, 404),
    tag="automations",
    summary="Delete an automation and its delivery history.",
)  # fmt: skip
TEST_AUTOMATION = Operation(
    "test_automation", "POST", AUTOMATION + "/test", AutomationPath, Delivery,
    service="automations.test", access=USER, role=Role.MEMBER, errors=(403, 404),
    tag="automations",
    summary="Send a sample event now; answers the delivery and its attempt.",
)  # fmt: skip
DELIVERIES = Operation(
    "automation_deliveries", "GET", AUTOMATION + "/deliveries", DeliveriesQuery, Deliveries,
    service="automations.deliveries", access=USER, role=Role.MEMBER, errors=(403, 404),
    wraps="deliveries", tag="automations",
    summary="An automation's deliveries, newest first, each with every attempt.",
)  # fmt: skip
REPLAY_DELIVERY = Operation(
    "replay_delivery", "POST", "/deliveries/{delivery_id}/replay", DeliveryPath, Delivery,
    service="automations.replay", access=USER, role=Role.MEMBER, errors=(403, 404),
    tag="automations",
    summary="Send a delivery again (same message id), its retry schedule restarted.",
)  # fmt: skip
