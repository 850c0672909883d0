"""Job deliveries: what ``modelbay agent`` calls to run an automation's job on a team's machine.

An automation whose action is a job writes a delivery with a ``queue`` in the transaction
of its event. An agent leases the oldest due delivery of its queue (a lease that expires
because its agent died makes the delivery leasable again), extends the lease while its
command runs, and completes it with the command's exit code, duration and output tail.
The lease token is returned only to the agent that leased; extending and completing need it.
"""

from __future__ import annotations

from pydantic import Field

from modelbay.contract import entities as e
from modelbay.contract import requests as r
from modelbay.contract.declaration import Access, Operation
from modelbay.contract.fields import Int64, Text

#: The longest lease one call grants (an agent extends it while its command runs).
MAX_LEASE_S = 3600
#: The output tail an agent reports, at most.
MAX_OUTPUT_TAIL = 65_536

# -- requests --------------------------------------------------------------------------


class JobLeaseRequest(r.Request):
    queue: Text = Field(max_length=128)
    #: A label for the leasing agent (its host and process), shown in the delivery history.
    agent: Text = Field(max_length=64)
    lease_seconds: float = Field(default=60.0, ge=1.0, le=MAX_LEASE_S)


class JobExtend(r.Request):
    delivery_id: Int64
    lease_token: Text = Field(max_length=128)
    lease_seconds: float = Field(default=60.0, ge=1.0, le=MAX_LEASE_S)


class JobComplete(r.Request):
    delivery_id: Int64
    lease_token: Text = Field(max_length=128)
    #: None when the command could not start or was killed for its timeout.
    exit_code: int | None = Field(default=None, ge=-255, le=255)
    duration: float = Field(ge=0.0, le=10.0 * 24 * 3600)
    output_tail: str = Field(default="", max_length=MAX_OUTPUT_TAIL)
    error: Text | None = Field(default=None, max_length=4000)


# -- entities --------------------------------------------------------------------------


class JobLease(e.Entity):
    """A leased job (``leased`` false: the queue has nothing due that the caller may run)."""

    leased: bool
    delivery_id: int | None = None
    #: The delivery's id across attempts (Standard Webhooks' ``webhook-id``).
    message_id: str | None = None
    lease_token: str | None = None
    lease_until: float | None = None
    automation: str | None = None
    queue: str | None = None
    #: 1 for the first lease, 2 when the first agent's lease expired, ...
    attempt: int | None = None
    #: The event, as a webhook's default body: ``{"type", "timestamp", "data"}``.
    event: e.JSON | None = None


class JobState(e.Entity):
    delivery_id: int
    state: str
    attempts: int
    lease_until: float | None = None


# -- operations ------------------------------------------------------------------------

JOBS = "/jobs"
LEASE_JOB = Operation(
    "lease_job",
    "POST",
    JOBS + "/lease",
    JobLeaseRequest,
    JobLease,
    service="jobs.lease",
    access=Access.USER,
    tag="jobs",
    summary="Lease the oldest due job of a queue in a scope where the caller is a member.",
)
EXTEND_JOB = Operation(
    "extend_job",
    "POST",
    JOBS + "/{delivery_id}/extend",
    JobExtend,
    JobState,
    service="jobs.extend",
    access=Access.USER,
    errors=(404, 409),
    tag="jobs",
    summary="Extend the lease of a running job (the agent's heartbeat).",
)
COMPLETE_JOB = Operation(
    "complete_job",
    "POST",
    JOBS + "/{delivery_id}/complete",
    JobComplete,
    JobState,
    service="jobs.complete",
    access=Access.USER,
    errors=(404, 409),
    tag="jobs",
    summary="Report a job's exit code, duration and output tail; the delivery is done.",
)
