"""W&B's automations API (``wandb.automations`` and ``Api().create_automation``) over
modelbay's automations, so that W&B code runs after changing its import line.

``event >> action`` makes a :class:`NewAutomation`; ``Api().create_automation(...)`` sends
it as one ``create_automation`` call. Events map to modelbay's (``OnLinkArtifact`` is
``version-linked``, ``OnAddArtifactAlias`` is ``alias-added`` with the alias filter as a
whole-string regex, ...); scopes are a registry, a collection or a project, given as the
SDK's objects or as modelbay's scope references; ``SendWebhook`` carries its payload as a
template (W&B's ``${...}`` variables are rendered by the server), ``SendNotification`` posts
modelbay's Slack message to the integration's incoming-webhook URL.

Integrations: W&B keeps a team's Slack channels and webhooks on its server (created in the
UI). modelbay stores each automation's URL and secrets with the automation itself, so an
integration here is a named preset kept in the client's data directory
(``integrations.json``, readable by its owner only), made with
:meth:`AutomationsApi.create_webhook_integration` / :meth:`create_slack_integration` or
``modelbay automation integration add``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from modelbay.errors import InvalidInputError, NotFoundError
from modelbay.sdk.transport import Transport

__all__ = [
    "ArtifactEvent",
    "Automation",
    "DoNothing",
    "Integration",
    "NewAutomation",
    "OnAddArtifactAlias",
    "OnAddArtifactTag",
    "OnCreateArtifact",
    "OnLinkArtifact",
    "OnRemoveArtifactTag",
    "OnUnlinkArtifact",
    "SendNotification",
    "SendWebhook",
    "SlackIntegration",
    "WebhookIntegration",
]

# -- filters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldFilter:
    """A filter on one field of an artifact event (``alias`` or ``tag``), as a regex that
    must match the whole value."""

    key: str
    regex: str


class _Filterable:
    def __init__(self, key: str) -> None:
        self.key = key

    def matches_regex(self, pattern: str) -> FieldFilter:
        re.compile(pattern)
        return FieldFilter(self.key, pattern)

    def eq(self, value: str) -> FieldFilter:
        return FieldFilter(self.key, re.escape(value))

    def __eq__(self, value: object) -> FieldFilter:  # type: ignore[override]
        return self.eq(str(value))

    __hash__ = None  # type: ignore[assignment]


class ArtifactEvent:
    """``ArtifactEvent.alias.matches_regex("^prod")``, ``ArtifactEvent.tag.eq("gold")``."""

    alias = _Filterable("alias")
    tag = _Filterable("tag")


def _filter(value: FieldFilter | Mapping[str, Any] | None, key: str) -> str | None:
    """The regex of an event's filter: a :class:`FieldFilter`, or W&B's dict form
    (``{"alias": "production"}``, an exact value; ``{"alias": {"$regex": "..."}}``)."""
    if value is None:
        return None
    if isinstance(value, FieldFilter):
        if value.key != key:
            raise InvalidInputError(f"this event filters on {key}, not {value.key}")
        return value.regex
    if isinstance(value, Mapping) and set(value) <= {key}:
        inner = value.get(key)
        if isinstance(inner, str):
            return re.escape(inner)
        if isinstance(inner, Mapping) and isinstance(inner.get("$regex"), str):
            return str(inner["$regex"])
    raise InvalidInputError(f"unsupported filter {value!r}: use ArtifactEvent.{key}...")


# -- scopes and events ---------------------------------------------------------------------


def scope_ref(scope: Any) -> str:
    """modelbay's scope reference of a W&B-style scope: an SDK ``Registry`` or
    ``Collection``, a project object (``.name`` and ``.entity``/no ``registry``), or a
    reference string (``registry:NAME``, ``collection:REG/NAME``, ``project:NAME``)."""
    if isinstance(scope, str):
        return scope
    kind = type(scope).__name__
    if kind == "Collection" and getattr(scope, "registry", None):
        return f"collection:{scope.registry}/{scope.name}"
    if kind == "Registry":
        return f"registry:{scope.name}"
    if kind == "Project" and getattr(scope, "name", None):
        return f"project:{scope.name}"
    raise InvalidInputError(f"unsupported automation scope {scope!r}")


@dataclass
class _Event:
    scope: Any
    filter: FieldFilter | Mapping[str, Any] | None = None
    #: modelbay's name of the event, and the field its filter applies to.
    EVENT: ClassVar[str] = ""
    FILTERS_ON: ClassVar[str | None] = None

    def __rshift__(self, action: _Action) -> NewAutomation:
        return NewAutomation(event=self, action=action)

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scope": scope_ref(self.scope), "event": self.EVENT}
        if self.FILTERS_ON is not None:
            out[f"{self.FILTERS_ON}_regex"] = _filter(self.filter, self.FILTERS_ON)
        elif self.filter:
            raise InvalidInputError(f"{type(self).__name__} takes no filter")
        return out


class OnLinkArtifact(_Event):
    """A version is linked to a collection."""

    EVENT = "version-linked"


class OnUnlinkArtifact(_Event):
    EVENT = "version-unlinked"


class OnAddArtifactAlias(_Event):
    """An alias is added to a version (or moved onto it)."""

    EVENT, FILTERS_ON = "alias-added", "alias"


class OnCreateArtifact(_Event):
    EVENT = "artifact-created"


class OnAddArtifactTag(_Event):
    EVENT, FILTERS_ON = "tag-added", "tag"


class OnRemoveArtifactTag(_Event):
    EVENT, FILTERS_ON = "tag-removed", "tag"


# -- integrations and actions --------------------------------------------------------------


@dataclass(frozen=True)
class Integration:
    id: str
    name: str


@dataclass(frozen=True)
class WebhookIntegration(Integration):
    url_endpoint: str
    #: Signs each delivery (Standard Webhooks); never shown back by the server.
    secret: str | None = None
    #: Sent as ``Authorization: Bearer ...``, and ``${ACCESS_TOKEN}`` in a payload.
    access_token: str | None = None
    #: Named secrets, ``${NAME}`` in a payload or a header (W&B's team secrets).
    secrets: Mapping[str, str] = field(default_factory=dict)
    #: More request headers (modelbay's; W&B's webhooks have none).
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SlackIntegration(Integration):
    #: The incoming-webhook URL of the channel.
    url_endpoint: str
    channel_name: str = ""
    slack_team_name: str = ""


@dataclass
class _Action:
    def fields(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass
class SendWebhook(_Action):
    integration: WebhookIntegration
    payload: Mapping[str, Any] | str | None = None

    @classmethod
    def from_integration(
        cls, integration: WebhookIntegration, *, payload: Mapping[str, Any] | str | None = None
    ) -> SendWebhook:
        return cls(integration, payload)

    def fields(self) -> dict[str, Any]:
        hook = self.integration
        out: dict[str, Any] = {"action": "webhook", "url": hook.url_endpoint}
        if self.payload is not None:
            out["template"] = (
                self.payload if isinstance(self.payload, str) else json.dumps(self.payload)
            )
        if hook.secret:
            out["signing_secret"] = hook.secret
        secrets, headers = dict(hook.secrets), dict(hook.headers)
        if hook.access_token:
            secrets["ACCESS_TOKEN"] = hook.access_token
            headers["Authorization"] = "Bearer ${ACCESS_TOKEN}"
        if secrets:
            out["secrets"] = secrets
        if headers:
            out["headers"] = headers
        return out


@dataclass
class SendNotification(_Action):
    """A Slack message. modelbay's message is built from the event (Block Kit: model,
    version, aliases, author, key metrics, a button); ``title`` and ``text`` are kept on
    this object only."""

    integration: SlackIntegration
    title: str = ""
    text: str = ""
    level: str = "INFO"

    @classmethod
    def from_integration(
        cls, integration: SlackIntegration, *, title: str = "", text: str = "", level: str = "INFO"
    ) -> SendNotification:
        return cls(integration, title, text, str(getattr(level, "value", level)))

    def fields(self) -> dict[str, Any]:
        return {"action": "slack", "url": self.integration.url_endpoint}


@dataclass
class DoNothing(_Action):
    def fields(self) -> dict[str, Any]:
        raise InvalidInputError("modelbay has no do-nothing action: disable the automation")


@dataclass
class NewAutomation:
    event: _Event
    action: _Action
    name: str | None = None
    description: str | None = None
    enabled: bool = True

    def request(self, **overrides: Any) -> dict[str, Any]:
        values = {"name": self.name, "enabled": self.enabled, **overrides}
        if not values.get("name"):
            raise InvalidInputError("an automation needs a name")
        return {
            "name": values["name"],
            "enabled": values["enabled"],
            **self.event.fields(),
            **self.action.fields(),
        }


@dataclass(frozen=True)
class Automation:
    """A saved automation, as the server describes it (secrets by name only)."""

    name: str
    scope: str
    event: str
    action: str
    enabled: bool
    info: dict[str, Any]
    description: str | None = None

    @property
    def id(self) -> str:
        return self.name


# -- the Api methods -----------------------------------------------------------------------


def _integrations_file(data_dir: Path) -> Path:
    return data_dir / "integrations.json"


class AutomationsApi:
    """The automation methods of :class:`modelbay.Api` (W&B's names)."""

    _transport: Transport

    def _data_dir(self) -> Path:
        from modelbay.settings import Settings

        return Settings.from_env().data_dir

    def _load_integrations(self) -> list[dict[str, Any]]:
        path = _integrations_file(self._data_dir())
        try:
            return list(json.loads(path.read_text()))
        except FileNotFoundError:
            return []

    def _save_integration(self, entry: dict[str, Any]) -> None:
        found = [i for i in self._load_integrations() if i["name"] != entry["name"]]
        path = _integrations_file(self._data_dir())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump([*found, entry], f, indent=2)
        os.replace(tmp, path)

    def create_webhook_integration(
        self,
        name: str,
        url: str,
        *,
        secret: str | None = None,
        access_token: str | None = None,
        secrets: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> WebhookIntegration:
        """Save a webhook destination under ``name`` (in the client's data directory):
        its URL, signing ``secret`` (``whsec_...``), an ``access_token`` sent as a bearer
        token, named ``secrets`` for ``${NAME}`` in payloads, and extra ``headers``."""
        made = WebhookIntegration(
            name, name, url, secret, access_token, dict(secrets or {}), dict(headers or {})
        )
        self._save_integration(
            {"kind": "webhook", "name": name, "url": url, "secret": secret,
             "access_token": access_token, "secrets": made.secrets, "headers": made.headers}
        )  # fmt: skip
        return made

    def create_slack_integration(
        self, channel_name: str, url: str, *, slack_team_name: str = ""
    ) -> SlackIntegration:
        """Save a Slack incoming-webhook URL under its channel's name."""
        entry = {"kind": "slack", "name": channel_name, "url": url, "team": slack_team_name}
        self._save_integration(entry)
        return SlackIntegration(channel_name, channel_name, url, channel_name, slack_team_name)

    def integrations(self, entity: str | None = None) -> Iterator[Integration]:
        """Every saved integration (``entity`` is accepted for W&B's signature)."""
        for i in self._load_integrations():
            if i["kind"] == "slack":
                yield SlackIntegration(i["name"], i["name"], i["url"], i["name"], i.get("team", ""))
            else:
                yield WebhookIntegration(
                    i["name"],
                    i["name"],
                    i["url"],
                    i.get("secret"),
                    i.get("access_token"),
                    i.get("secrets") or {},
                    i.get("headers") or {},
                )

    def slack_integrations(self, entity: str | None = None) -> Iterator[SlackIntegration]:
        return (i for i in self.integrations(entity) if isinstance(i, SlackIntegration))

    def webhook_integrations(self, entity: str | None = None) -> Iterator[WebhookIntegration]:
        return (i for i in self.integrations(entity) if isinstance(i, WebhookIntegration))

    def create_automation(
        self,
        obj: NewAutomation,
        *,
        fetch_existing: bool = False,
        **kwargs: Any,
    ) -> Automation:
        """Create ``event >> action`` (``name=``, ``description=``, ``enabled=``).

        With ``fetch_existing``, an automation of that name already there is returned.
        """
        from modelbay.contract import automations as ops
        from modelbay.errors import AlreadyExistsError

        description = kwargs.pop("description", obj.description)
        request = ops.AutomationCreate(**obj.request(**kwargs))
        try:
            made = self._transport.call(ops.CREATE_AUTOMATION, request)
        except AlreadyExistsError:
            if not fetch_existing:
                raise
            return self.automation(name=request.name)
        return _automation(made, description)

    def automation(self, *, name: str, entity: str | None = None) -> Automation:
        from modelbay.contract import automations as ops

        return _automation(self._transport.call(ops.GET_AUTOMATION, ops.AutomationPath(name=name)))

    def automations(
        self, entity: str | None = None, *, name: str | None = None
    ) -> Iterator[Automation]:
        from modelbay.contract import automations as ops

        found = self._transport.call(ops.LIST_AUTOMATIONS, ops.AutomationsQuery()).automations
        return (_automation(a) for a in found if name is None or a.name == name)

    def delete_automation(self, obj: Automation | str) -> bool:
        from modelbay.contract import automations as ops

        name = obj if isinstance(obj, str) else obj.name
        try:
            self._transport.call(ops.DELETE_AUTOMATION, ops.AutomationPath(name=name))
        except NotFoundError:
            return False
        return True


def _automation(entity: Any, description: str | None = None) -> Automation:
    info = entity.model_dump()
    return Automation(
        name=info["name"],
        scope=info["scope"],
        event=info["event"],
        action=info["action"],
        enabled=info["enabled"],
        info=info,
        description=description,
    )
