"""Automations: create, read, change and test them, and read and replay their deliveries.

Every operation needs the member role in the automation's scope (a registry; a
collection's registry; a project): see ``contract/automations.py`` for why reading does
too. An automation that the caller may not read at all is "not found". Secrets (the
signing secret and named secrets) are write-only: answers carry their names only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import Connection

from modelbay import names
from modelbay.contract.automations import EVENTS
from modelbay.contract.operations import Role
from modelbay.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from modelbay.jsontext import Info
from modelbay.services import access
from modelbay.services.core import Principal, now
from modelbay.services.outbox import message_id
from modelbay.settings import Settings
from modelbay.store import access as access_store
from modelbay.store import automations as store
from modelbay.store import registry as registry_store
from modelbay.store.database import Database

#: The event each CLI/API event name stands for (``events.action``).
ACTIONS = {
    name: {
        "artifact-created": "artifact_version.created",
        "run-metric": "run.metric",
    }.get(name, name.replace("-", ".", 1).replace("-", "_"))
    for name in EVENTS
}
EVENT_NAMES = {action: name for name, action in ACTIONS.items()}
#: The scopes each event can happen in.
_REGISTRY_ONLY = {"version.linked", "version.unlinked"} | {
    a for a in ACTIONS.values() if a.startswith("promotion.")
}
_PROJECT_ONLY = {"artifact_version.created"} | {a for a in ACTIONS.values() if a.startswith("run.")}
SECRET_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")


@dataclass(frozen=True)
class Scope:
    kind: str  # registry | collection | project
    id: int
    label: str


def _bad(message: str, **details: Any) -> InvalidInputError:
    return InvalidInputError(message, details or None)


def _regex(value: str | None, what: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        re.compile(value)
    except re.error as exc:
        raise _bad(f"invalid {what} {value[:80]!r}: {exc}", field=what) from None
    return value


class AutomationService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    # -- scopes and permissions ---------------------------------------------------------------

    @staticmethod
    def scope_kind(text: str) -> tuple[str, str]:
        """(kind, name) of a scope reference: ``registry:NAME``, ``collection:REGISTRY/NAME``,
        ``project:NAME``; ``NAME-registry[/COLLECTION]`` and a bare project name too.

        Raises:
            InvalidInputError: another kind.
        """
        kind, sep, rest = text.partition(":")
        if not sep:
            head, slash, coll = text.partition("/")
            if head.endswith("-registry"):
                kind = "collection" if slash else "registry"
                rest = f"{head[: -len('-registry')]}{slash}{coll}"
            else:
                kind, rest = "project", text
        if kind not in ("registry", "collection", "project"):
            raise _bad(
                f"invalid scope {text[:80]!r}: use registry:NAME, collection:REGISTRY/NAME or "
                "project:NAME",
                scope=text[:300],
            )
        return kind, rest

    def _resolve_scope(
        self, conn: Connection, principal: Principal, text: str, needed: Role
    ) -> Scope:
        """A scope reference checked against the caller's role.

        Raises:
            InvalidInputError: not a scope reference.
            NotFoundError, PermissionDeniedError: as ``access.require_registry``/``project``.
        """
        kind, rest = self.scope_kind(text)
        if kind == "registry":
            row = access.require_registry(conn, principal, rest, needed)
            return Scope("registry", row["id"], f"registry:{row['name']}")
        if kind == "collection":
            registry, slash, collection = rest.partition("/")
            if not slash or not collection:
                raise _bad("a collection scope is collection:REGISTRY/NAME", scope=text[:300])
            row = access.require_registry(conn, principal, registry, needed)
            found = registry_store.get_collection(conn, row["id"], collection)
            if found is None:
                raise NotFoundError(f"collection {registry}/{collection} not found")
            return Scope("collection", found["id"], f"collection:{row['name']}/{found['name']}")
        if kind == "project":
            row = access.require_project(conn, principal, rest, needed)
            return Scope("project", row["id"], f"project:{row['name']}")
        raise _bad(
            f"invalid scope {text[:80]!r}: use registry:NAME, collection:REGISTRY/NAME or "
            "project:NAME",
            scope=text[:300],
        )

    @staticmethod
    def _scope_target(conn: Connection, kind: str, scope_id: int) -> tuple[str, dict[str, Any]]:
        """("registry" or "project", its row) of a stored scope, and the scope's label."""
        if kind == "project":
            row = access_store.project_row_by_id(conn, scope_id)
            assert row is not None
            return "project", row
        registry_id = scope_id
        if kind == "collection":
            coll = store.collection_row(conn, scope_id)
            assert coll is not None
            registry_id = coll["registry_id"]
        row = registry_store.registry_by_id(conn, registry_id)
        assert row is not None
        return "registry", row

    def _role(
        self, conn: Connection, principal: Principal, automation: dict[str, Any]
    ) -> Role | None:
        kind, row = self._scope_target(conn, automation["scope_kind"], automation["scope_id"])
        if kind == "project":
            return access.project_role(conn, principal, row)
        return access.registry_role(conn, principal, row)

    def _require(
        self, conn: Connection, principal: Principal, name: str, needed: Role = Role.MEMBER
    ) -> dict[str, Any]:
        """The automation, if the caller holds ``needed`` in its scope.

        Raises:
            NotFoundError: no such automation, or one in a scope the caller may not read.
            PermissionDeniedError: a lower role there.
        """
        row = store.automation_by_name(conn, names.check_name(name, "automation"))
        if row is None:
            raise NotFoundError(f"automation {name!r} not found", {"automation": name})
        kind, target = self._scope_target(conn, row["scope_kind"], row["scope_id"])
        try:
            if kind == "project":
                access.require_project(conn, principal, target["name"], needed)
            else:
                access.require_registry(conn, principal, target["name"], needed)
        except NotFoundError:
            raise NotFoundError(f"automation {name!r} not found", {"automation": name}) from None
        return row

    def _label(self, conn: Connection, row: dict[str, Any]) -> str:
        if row["scope_kind"] == "collection":
            coll = store.collection_row(conn, row["scope_id"])
            registry = registry_store.registry_by_id(conn, coll["registry_id"]) if coll else None
            return f"collection:{registry['name'] if registry else '?'}/{coll['name'] if coll else '?'}"
        kind, target = self._scope_target(conn, row["scope_kind"], row["scope_id"])
        return f"{kind}:{target['name']}"

    def _info(self, conn: Connection, row: dict[str, Any]) -> Info:
        config = row["action_config"] or {}
        secrets = row["secrets"] or {}
        url = config.get("url")
        if url and row["action_kind"] == "slack":
            parts = urlsplit(url)
            url = f"{parts.scheme}://{parts.netloc}/…"
        return {
            "name": row["name"],
            "scope": self._label(conn, row),
            "event": EVENT_NAMES.get(row["event_type"], row["event_type"]),
            "alias_regex": row["alias_regex"],
            "tag_regex": row["tag_regex"],
            "metric": row["metric"],
            "metric_window": row["metric_window"],
            "metric_agg": row["metric_agg"],
            "metric_op": row["metric_op"],
            "metric_value": row["metric_value"],
            "action": row["action_kind"],
            "url": url,
            "headers": dict(config.get("headers") or {}),
            "template": config.get("template"),
            "queue": config.get("queue"),
            "secret_names": sorted((secrets.get("named") or {}).keys()),
            "signed": bool(secrets.get("signing")),
            "enabled": bool(row["enabled"]),
            "disabled_reason": row["disabled_reason"],
            "concurrency": row["concurrency"],
            "created_by": row.get("creator"),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }

    # -- validation ---------------------------------------------------------------------------

    def _destination(self, url: str | None, kind: str) -> str:
        from modelbay.automations import webhook

        if not url:
            raise _bad(f"a {kind} automation needs a URL", field="url")
        try:
            webhook.check_url(url)
        except webhook.RefusedDestination as exc:
            raise _bad(f"invalid URL {url[:80]!r}: {exc}", field="url") from None
        if not self.settings.allow_private_destinations and webhook.literal_private(url):
            raise _bad(
                f"{urlsplit(url).hostname} is a loopback or private address: refused unless "
                "the server allows private destinations (--allow-private-destinations)",
                field="url",
            )
        return url

    @staticmethod
    def _check_scope_event(kind: str, action: str) -> None:
        if action in _REGISTRY_ONLY and kind == "project":
            raise _bad(
                f"{EVENT_NAMES[action]} happens in registries: scope it to a registry "
                "or a collection",
                field="scope",
            )
        if action in _PROJECT_ONLY and kind != "project":
            raise _bad(
                f"{EVENT_NAMES[action]} happens in projects: scope it to a project", field="scope"
            )

    @staticmethod
    def _filters(action: str, args: dict[str, Any]) -> dict[str, Any]:
        alias = _regex(args.get("alias_regex"), "alias regex")
        tag = _regex(args.get("tag_regex"), "tag regex")
        if alias and not action.startswith(("alias.", "promotion.")):
            raise _bad("an alias regex filters alias and promotion events", field="alias_regex")
        if tag and not action.startswith("tag."):
            raise _bad("a tag regex filters tag events", field="tag_regex")
        metric = {
            k: args.get(k)
            for k in ("metric", "metric_window", "metric_agg", "metric_op", "metric_value")
        }
        if action == "run.metric":
            if (
                not metric["metric"]
                or metric["metric_op"] is None
                or metric["metric_value"] is None
            ):
                raise _bad("run-metric needs a metric, a comparison and a value", field="metric")
            metric["metric_window"] = metric["metric_window"] or 1
            metric["metric_agg"] = metric["metric_agg"] or "avg"
        elif any(v is not None for v in metric.values()):
            raise _bad("metric thresholds are for run-metric automations", field="metric")
        return {"alias_regex": alias, "tag_regex": tag, **metric}

    def _action(self, args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(action_config, secrets) of a create request."""
        from modelbay.automations import template as templates

        kind = args["action"]
        named = dict(args.get("secrets") or {})
        for key in named:
            if not SECRET_NAME.fullmatch(key):
                raise _bad(f"invalid secret name {key[:40]!r}: A-Z, 0-9 and _", field="secrets")
        signing = args.get("signing_secret")
        if kind == "job":
            if not args.get("queue"):
                raise _bad("a job automation needs a queue", field="queue")
            names.check_name(args["queue"], "queue")
            if args.get("url") or args.get("template") or args.get("headers") or signing:
                raise _bad("a job automation takes a queue only", field="action")
            return {"queue": args["queue"]}, {"named": named}
        url = self._destination(args.get("url"), kind)
        if args.get("queue"):
            raise _bad("a queue is for job automations", field="queue")
        if kind == "slack":
            if args.get("template") or args.get("headers") or signing:
                raise _bad("a Slack automation takes its incoming-webhook URL only", field="action")
            return {"url": url}, {"named": {}}
        if signing is not None:
            from standardwebhooks.webhooks import Webhook

            try:
                if not signing.startswith("whsec_"):
                    raise ValueError("no whsec_ prefix")
                Webhook(signing)
            except Exception:
                raise _bad(
                    "a signing secret is whsec_ followed by base64", field="signing_secret"
                ) from None
        template = args.get("template")
        if template is not None:
            templates.check(template)
        headers = dict(args.get("headers") or {})
        for key in headers:
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}", key):
                raise _bad(f"invalid header name {key[:40]!r}", field="headers")
            if key.lower().startswith("webhook-") or key.lower() in ("content-length", "host"):
                raise _bad(f"header {key!r} is set by modelbay", field="headers")
        for value in headers.values():
            if "\r" in value or "\n" in value:
                raise _bad("a header value is one line", field="headers")
        config = {"url": url, "headers": headers, "template": template}
        return config, {"named": named, "signing": signing}

    # -- operations ---------------------------------------------------------------------------

    def create(
        self, principal: Principal, name: str, scope: str, event: str, action: str, **args: Any
    ) -> Info:
        """Create an automation.

        Raises:
            InvalidInputError: a bad name, scope, event for the scope, regex, URL, template,
                secret or header; nothing is created.
            NotFoundError, PermissionDeniedError: the caller is no member of the scope.
            AlreadyExistsError: an automation of that name exists.
        """
        names.check_name(name, "automation")
        if event not in ACTIONS:
            raise _bad(f"unknown event {event!r}: one of {', '.join(EVENTS)}", field="event")
        event_type = ACTIONS[event]
        args["action"] = action
        t = now()
        self._check_scope_event(self.scope_kind(scope)[0], event_type)
        filters = self._filters(event_type, args)
        config, secrets = self._action(args)
        with self.db.write() as conn:
            where = self._resolve_scope(conn, principal, scope, Role.MEMBER)
            if store.automation_by_name(conn, name) is not None:
                raise AlreadyExistsError(
                    f"automation {name!r} already exists", {"automation": name}
                )
            store.insert_automation(
                conn,
                name=name,
                scope_kind=where.kind,
                scope_id=where.id,
                event_type=event_type,
                action_kind=action,
                action_config=config,
                secrets=secrets,
                enabled=bool(args.get("enabled", True)),
                concurrency=int(args.get("concurrency") or 4),
                created_by=principal.user_id,
                created_at=t,
                updated_at=t,
                **filters,
            )
            row = store.automation_by_name(conn, name)
            assert row is not None
            return self._info(conn, row)

    def list_automations(self, principal: Principal, scope: str | None = None) -> list[Info]:
        """The automations of the scopes where the caller is a member (of ``scope`` only,
        when given: none when the caller is no member there)."""
        with self.db.read() as conn:
            scopes = None
            if scope is not None:
                try:
                    where = self._resolve_scope(conn, principal, scope, Role.MEMBER)
                except InvalidInputError:
                    raise
                except Exception:  # not found, or not a member: nothing to show
                    return []
                scopes = [(where.kind, where.id)]
            rows = store.list_automations(conn, scopes)
            roles: dict[tuple[str, int], Role | None] = {}
            shown = []
            for row in rows:
                key = (row["scope_kind"], row["scope_id"])
                if key not in roles:
                    roles[key] = self._role(conn, principal, row)
                role = roles[key]
                if role is not None and role >= Role.MEMBER:
                    shown.append(self._info(conn, row))
            return shown

    def get(self, principal: Principal, name: str) -> Info:
        """One automation.

        Raises:
            NotFoundError, PermissionDeniedError: see :meth:`_require`.
        """
        with self.db.read() as conn:
            return self._info(conn, self._require(conn, principal, name))

    def update(
        self,
        principal: Principal,
        name: str,
        enabled: bool | None = None,
        concurrency: int | None = None,
    ) -> Info:
        """Enable (clearing the reason it was disabled) or disable an automation, or change
        its concurrency limit."""
        with self.db.write() as conn:
            row = self._require(conn, principal, name)
            changes: dict[str, Any] = {"updated_at": now()}
            if enabled is not None:
                changes["enabled"] = enabled
                changes["disabled_reason"] = None if enabled else f"disabled by {principal.name}"
            if concurrency is not None:
                changes["concurrency"] = concurrency
            store.update_automation(conn, row["id"], **changes)
            updated = store.automation_by_id(conn, row["id"])
            assert updated is not None
            return self._info(conn, updated)

    def delete(self, principal: Principal, name: str) -> None:
        """Delete an automation with its deliveries and their history."""
        with self.db.write() as conn:
            row = self._require(conn, principal, name)
            store.delete_automation(conn, row["id"])

    def test(self, principal: Principal, name: str) -> Info:
        """Send a sample event now (a job automation's waits for an agent); the delivery.

        A test is sent once: it is not retried, and its failure never disables the
        automation.
        """
        from modelbay.automations import dispatcher, payload

        worker = dispatcher.worker_name()
        t = now()
        with self.db.write() as conn:
            row = self._require(conn, principal, name)
            body = payload.sample(row, principal.name, t)
            is_job = row["action_kind"] == "job"
            delivery_id = store.insert_delivery(
                conn,
                automation_id=row["id"],
                event_id=None,
                message_id=message_id(),
                action_kind=row["action_kind"],
                queue=(row["action_config"] or {}).get("queue") if is_job else None,
                state=store.PENDING,
                attempts=0,
                next_attempt_at=t,
                lease_until=None if is_job else t + dispatcher.LEASE_SECONDS,
                leased_by=None if is_job else worker,
                payload=body,
                created_at=t,
                updated_at=t,
            )
            leased = store.delivery_by_id(conn, delivery_id)
        assert leased is not None
        if not is_job:
            from modelbay.automations import webhook

            with webhook.new_client() as client:
                dispatcher.deliver(self.db, self.settings, leased, client, worker)
        return self._delivery(delivery_id)

    def _delivery(self, delivery_id: int) -> Info:
        with self.db.read() as conn:
            row = store.delivery_by_id(conn, delivery_id)
            assert row is not None
            return _delivery_info(row, store.attempts_of(conn, [delivery_id])[delivery_id])

    def deliveries(
        self, principal: Principal, name: str, limit: int = 50, before: int | None = None
    ) -> list[Info]:
        """An automation's deliveries, newest first, each with every attempt."""
        with self.db.read() as conn:
            row = self._require(conn, principal, name)
            found = store.deliveries_of(conn, row["id"], limit=limit, before=before)
            attempts = store.attempts_of(conn, [d["id"] for d in found])
            return [
                _delivery_info({**d, "automation": row["name"]}, attempts[d["id"]]) for d in found
            ]

    def replay(self, principal: Principal, delivery_id: int) -> Info:
        """Send a delivery again with the same message id, its schedule restarted.

        Raises:
            NotFoundError: no such delivery the caller may see.
            PermissionDeniedError: a lower role than member in its automation's scope.
        """
        with self.db.write() as conn:
            row = store.delivery_by_id(conn, delivery_id)
            if row is None:
                raise NotFoundError(f"delivery {delivery_id} not found")
            try:
                self._require(conn, principal, row["automation"])
            except NotFoundError:
                raise NotFoundError(f"delivery {delivery_id} not found") from None
            store.replay(conn, delivery_id, now())
        return self._delivery(delivery_id)


def _delivery_info(row: dict[str, Any], attempts: list[dict[str, Any]]) -> Info:
    return {
        "id": row["id"],
        "automation": row["automation"],
        "message_id": row["message_id"],
        "event_id": row["event_id"],
        "action": row["action_kind"],
        "queue": row["queue"],
        "state": row["state"],
        "attempts": row["attempts"],
        "next_attempt_at": row["next_attempt_at"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "history": [
            {
                k: a[k]
                for k in (
                    "started_at",
                    "request",
                    "status_code",
                    "response_head",
                    "latency_ms",
                    "error",
                    "exit_code",
                    "duration",
                    "output_tail",
                )
            }
            for a in attempts
        ],
    }


__all__ = ["ACTIONS", "EVENT_NAMES", "AutomationService"]
