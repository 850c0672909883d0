"""The dispatcher: claims due webhook and Slack deliveries and sends them.

Every server process runs one (:class:`Dispatcher`, started and stopped with the app);
:func:`run_once` does one round for whoever else needs it (``modelbay agent``, tests) over
any database. A round leases due deliveries (see ``store/automations.py``), sends them in
parallel, and records each attempt; a delivery is retried on the settings' schedule
(Standard Webhooks' by default) and is dead after its last attempt, which disables its
automation with the reason. 2xx is success; 410 disables the automation at once; 429's
``Retry-After`` is honoured; a refused destination fails the delivery without retries.
A lease outlives the 15 s timeout by far, so a live sender never loses it; a dead one's
lease expires and the delivery is sent again (at least once, same ``webhook-id``).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from modelbay.automations import payload as payloads
from modelbay.automations import slack, template, webhook
from modelbay.settings import Settings
from modelbay.store import automations as store
from modelbay.store.database import Database

log = logging.getLogger("modelbay.automations")

#: Seconds a claim holds a delivery: far above the 15 s request timeout.
LEASE_SECONDS = 120.0
#: Deliveries claimed per round, and sent at once.
BATCH = 32
PARALLEL = 8
#: Seconds between looks at the outbox when nothing woke the dispatcher (deliveries written
#: by other processes are found this way).
POLL_SECONDS = 0.5


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def run_once(
    db: Database,
    settings: Settings,
    *,
    client: httpx.Client | None = None,
    worker: str | None = None,
    pool: ThreadPoolExecutor | None = None,
) -> int:
    """Claim the due deliveries (up to :data:`BATCH`) and send them; returns how many."""
    worker = worker or worker_name()
    now = time.time()
    with db.read() as conn:
        if not store.any_due(conn, now):
            return 0
    with db.write() as conn:
        claimed = store.claim(
            conn, now=now, lease_until=now + LEASE_SECONDS, worker=worker, limit=BATCH
        )
    if not claimed:
        return 0
    own_client = client is None
    http = client or webhook.new_client()
    try:
        if pool is None or len(claimed) == 1:
            for row in claimed:
                deliver(db, settings, row, http, worker)
        else:
            list(pool.map(lambda row: deliver(db, settings, row, http, worker), claimed))
    finally:
        if own_client:
            http.close()
    return len(claimed)


def _payload(db: Database, row: dict[str, Any]) -> dict[str, Any] | None:
    """The delivery's frozen payload, built from its event at the first attempt."""
    if row["payload"] is not None:
        return dict(row["payload"])
    with db.write() as conn:
        event = store.event_by_id(conn, row["event_id"]) if row["event_id"] else None
        if event is None:
            return None
        built = payloads.build(conn, event, row["automation"])
        store.set_payload(conn, row["id"], built)
    return built


def request_of(
    row: dict[str, Any], body_data: dict[str, Any], settings: Settings
) -> tuple[str, bytes, dict[str, str], list[str]]:
    """(url, body, headers, secret values) of a webhook or Slack delivery."""
    config = row["action_config"] or {}
    secrets = row["secrets"] or {}
    named: dict[str, str] = dict(secrets.get("named") or {})
    signing = secrets.get("signing")
    hidden = [v for v in (*named.values(), signing) if v]
    url = str(config.get("url") or "")
    headers: dict[str, str] = {}
    if row["action_kind"] == "slack":
        hidden.append(url)  # a Slack incoming-webhook URL is itself the credential
        body = json.dumps(slack.message(body_data, settings.public_url)).encode()
        return url, body, headers, hidden
    if config.get("template"):
        rendered = template.render(config["template"], body_data, named)
        body = json.dumps(rendered, separators=(",", ":")).encode()
    else:
        body = json.dumps(body_data, separators=(",", ":")).encode()
    values = template.variables(body_data, named)
    for key, value in (config.get("headers") or {}).items():
        headers[key] = template.PLACEHOLDER.sub(
            lambda m: template._text(values.get(m.group(1), m.group(0))), str(value)
        )
    if named.get("ACCESS_TOKEN") and not any(k.lower() == "authorization" for k in headers):
        headers["authorization"] = f"Bearer {named['ACCESS_TOKEN']}"
    headers.update(webhook.signed_headers(row["message_id"], time.time(), body, signing))
    return url, body, headers, hidden


def deliver(
    db: Database, settings: Settings, row: dict[str, Any], client: httpx.Client, worker: str
) -> webhook.Outcome:
    """Send one leased delivery and record the attempt and its consequences."""
    started = time.time()
    try:
        body_data = _payload(db, row)
        if body_data is None:
            outcome = webhook.Outcome(request={}, error="its event no longer exists", refused=True)
        else:
            url, body, headers, hidden = request_of(row, body_data, settings)
            outcome = webhook.post(
                client,
                url,
                body,
                headers,
                secrets=hidden,
                allow_private=settings.allow_private_destinations,
            )
    except Exception as exc:  # a bad template or config must not stop the dispatcher
        log.exception("delivery %s could not be prepared", row["id"])
        outcome = webhook.Outcome(request={}, error=f"{type(exc).__name__}: {exc}"[:2000])
    settle(db, settings, row, outcome, started, worker)
    return outcome


def _next_state(
    settings: Settings, row: dict[str, Any], outcome: webhook.Outcome, now: float
) -> tuple[str, float, str | None]:
    """(state, next attempt time, reason to disable the automation or None)."""
    attempts = row["attempts"] + 1
    is_test = bool(((row.get("payload") or {}).get("data") or {}).get("test"))
    if outcome.succeeded:
        return store.SUCCEEDED, now, None
    if outcome.status == 410:
        reason = "the destination answered 410 Gone"
        return store.FAILED, now, None if is_test else reason
    if outcome.refused:
        return store.FAILED, now, None if is_test else f"delivery refused: {outcome.error}"
    if is_test:
        return store.FAILED, now, None
    schedule = settings.delivery_retry_schedule
    if attempts >= len(schedule):
        what = f"status {outcome.status}" if outcome.status else outcome.error
        return (
            store.DEAD,
            now,
            f"delivery {row['message_id']} failed {attempts} times; last: {what}",
        )
    delay = schedule[attempts]
    if outcome.status == 429 and outcome.retry_after is not None:
        delay = max(delay, min(outcome.retry_after, 86400.0))
    return store.PENDING, now + delay, None


def settle(
    db: Database,
    settings: Settings,
    row: dict[str, Any],
    outcome: webhook.Outcome,
    started: float,
    worker: str,
) -> None:
    now = time.time()
    state, next_at, disable = _next_state(settings, row, outcome, now)
    with db.write() as conn:
        if not store.settle(
            conn,
            row["id"],
            worker=worker,
            state=state,
            attempts=row["attempts"] + 1,
            next_attempt_at=next_at,
            now=now,
        ):
            return  # the lease expired and another worker took the delivery
        store.insert_attempt(
            conn,
            delivery_id=row["id"],
            started_at=started,
            request=outcome.request,
            status_code=outcome.status,
            response_head=outcome.head,
            latency_ms=outcome.latency_ms,
            error=outcome.error,
        )
        if disable:
            store.update_automation(
                conn, row["automation_id"], enabled=False, disabled_reason=disable, updated_at=now
            )
            log.warning("automation %r disabled: %s", row["automation"], disable)


class Dispatcher:
    """A daemon thread running :func:`run_once` whenever deliveries are written in this
    process, and every :data:`POLL_SECONDS` for those written elsewhere."""

    def __init__(self, db: Database, settings: Settings, poll: float = POLL_SECONDS) -> None:
        self.db = db
        self.settings = settings
        self.poll = poll
        self.worker = worker_name()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modelbay-dispatch", daemon=True)

    def start(self) -> Dispatcher:
        self._thread.start()
        return self

    def _run(self) -> None:
        client = webhook.new_client()
        with ThreadPoolExecutor(PARALLEL, thread_name_prefix="modelbay-deliver") as pool:
            while not self._stop.is_set():
                store.WRITTEN.clear()
                try:
                    sent = run_once(
                        self.db, self.settings, client=client, worker=self.worker, pool=pool
                    )
                except Exception:  # the database away for a moment: try again later
                    log.exception("dispatching deliveries")
                    sent = 0
                if not sent:
                    store.WRITTEN.wait(self.poll)
        client.close()

    def stop(self) -> None:
        self._stop.set()
        store.WRITTEN.set()
        # A round in flight may wait on a slow destination; leases outlive an abandoned one.
        self._thread.join(timeout=5)
