"""A Slack message for an event: Block Kit blocks (model, version, aliases, author, key
metrics, a button to the version's page) and the ``text`` Slack shows in notifications and
where blocks cannot be shown. Posted to an incoming-webhook URL."""

from __future__ import annotations

import math
from typing import Any

#: What a message says happened, by event type.
HEADLINES = {
    "version.linked": "New version linked",
    "version.unlinked": "Version unlinked",
    "alias.added": "Alias set",
    "alias.removed": "Alias removed",
    "tag.added": "Tag added",
    "tag.removed": "Tag removed",
    "artifact_version.created": "New artifact version",
    "run.finished": "Run finished",
    "run.failed": "Run failed",
    "run.crashed": "Run crashed",
    "run.metric": "Run metric threshold met",
    "promotion.requested": "Promotion requested",
    "promotion.approved": "Promotion approved",
    "promotion.rejected": "Promotion rejected",
}
#: Key metrics shown: the first numbers of the version's metadata (or the run's summary).
MAX_METRICS = 6
#: Slack's limits: 150 characters of plain text in a header, 2,000 in a field.
HEADER_MAX, FIELD_MAX = 150, 2000


def _metrics(data: dict[str, Any]) -> list[tuple[str, Any]]:
    version = data.get("version") or {}
    run = data.get("run") or {}
    source = version.get("metadata") or run.get("summary") or {}
    found = []
    for key, value in source.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        found.append((str(key), round(value, 6) if isinstance(value, float) else value))
        if len(found) == MAX_METRICS:
            break
    return found


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"*{label}*\n{value}"[:FIELD_MAX]}


def message(payload: dict[str, Any], public_url: str | None) -> dict[str, Any]:
    """The Slack message for a delivery's payload."""
    data = payload.get("data") or {}
    action = str(payload.get("type", ""))
    headline = HEADLINES.get(action, action)
    version = data.get("version") or {}
    link = version.get("link") or {}
    model = (
        f"{link['registry']}/{link['collection']}"
        if link
        else (f"{version['project']}/{version['name']}" if version else None)
    )
    label = link.get("version") or version.get("version")
    aliases = link.get("aliases") if link else version.get("aliases")
    subject = data.get("event", {}).get("subject") or ""
    text = f"{headline}: {f'{model}:{label}' if model else subject} by {data.get('author')}"
    if data.get("alias"):
        text += f" (alias {data['alias']})"
    if data.get("tag"):
        text += f" (tag {data['tag']})"
    fields = []
    if model:
        fields += [_field("Model", model), _field("Version", str(label))]
    else:
        fields.append(_field("Subject", subject or "-"))
    fields += [
        _field("Aliases", ", ".join(aliases) if aliases else "-"),
        _field("Author", str(data.get("author") or "-")),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": text[:HEADER_MAX]}},
        {"type": "section", "fields": fields},
    ]
    metrics = _metrics(data)
    if metrics:
        blocks.append(
            {
                "type": "section",
                "fields": [_field(k, str(v)) for k, v in metrics],
            }
        )
    page = data.get("version_page")
    if page and public_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "View version"},
                        "url": public_url.rstrip("/") + page,
                        "action_id": "view_version",
                    }
                ],
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"modelbay automation *{data.get('automation')}*"}
            ],
        }
    )
    return {"text": text, "blocks": blocks}
