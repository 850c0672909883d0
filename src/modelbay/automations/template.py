"""W&B-style payload templates: JSON text with ``${variable}`` placeholders.

The variables are W&B's (``${event_type}``, ``${event_author}``, ``${alias}``, ``${tag}``,
``${artifact_collection_name}``, ``${artifact_version}``, ``${artifact_version_string}``,
``${artifact_metadata.KEY}``, ``${project_name}``, ``${entity_name}``) and the
automation's secrets by name (``${SECRET_NAME}``), so that a template written for W&B works
unchanged. Substitution is JSON-safe: a placeholder inside a JSON string is replaced by the
value's text, escaped by the JSON encoder (a quote in an alias cannot break out); a string
that is exactly one placeholder of an object (``"${artifact_version}"``) becomes that
object; a placeholder outside any string becomes the value's JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

from modelbay.errors import InvalidInputError

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[^{}\s\"]+)?)\}")
#: The most characters of a template (a W&B template is a small JSON document).
MAX_TEMPLATE = 64 * 1024
#: Where modelbay keeps everything W&B would put under an entity (team or user).
ENTITY = "modelbay"
MISSING = object()


def variables(payload: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """The template variables of a delivery's payload (see the module docstring)."""
    data = payload.get("data") or {}
    version = data.get("version") or None
    link = (version or {}).get("link") or None
    found: dict[str, Any] = {
        "event_type": data.get("wandb_event_type") or str(payload.get("type", "")).upper(),
        "event_author": data.get("author"),
        "alias": data.get("alias"),
        "tag": data.get("tag"),
        "artifact_collection_name": link["collection"] if link else (version or {}).get("name"),
        "artifact_version": version,
        "artifact_version_string": (link or version or {}).get("ref"),
        "project_name": data.get("project"),
        "entity_name": ENTITY,
    }
    for key, value in ((version or {}).get("metadata") or {}).items():
        found[f"artifact_metadata.{key}"] = value
    found.update(secrets)
    return found


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _lookup(name: str, values: dict[str, Any]) -> Any:
    if name in values:
        return values[name]
    if name.startswith("artifact_metadata."):
        return None  # a key the version does not have: empty, as W&B renders it
    return MISSING


def _in_strings(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        return {_in_strings(k, values): _in_strings(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_in_strings(v, values) for v in node]
    if not isinstance(node, str) or "${" not in node:
        return node
    whole = PLACEHOLDER.fullmatch(node)
    if whole:
        value = _lookup(whole.group(1), values)
        if value is MISSING:
            return node
        return value if isinstance(value, dict | list) else _text(value)

    def one(match: re.Match[str]) -> str:
        value = _lookup(match.group(1), values)
        return match.group(0) if value is MISSING else _text(value)

    return PLACEHOLDER.sub(one, node)


def _outside_strings(template: str, values: dict[str, Any]) -> str:
    """Replace placeholders that stand outside JSON strings by their values' JSON."""
    out: list[str] = []
    i, in_string = 0, False
    while i < len(template):
        ch = template[i]
        if in_string:
            out.append(ch)
            if ch == "\\" and i + 1 < len(template):
                out.append(template[i + 1])
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        else:
            match = PLACEHOLDER.match(template, i) if ch == "$" else None
            if match:
                value = _lookup(match.group(1), values)
                out.append("null" if value is MISSING else json.dumps(value))
                i = match.end()
                continue
            out.append(ch)
        i += 1
    return "".join(out)


def check(template: str) -> str:
    """A template as stored: a JSON document once placeholders outside strings are filled.

    Raises:
        InvalidInputError: too long, or not JSON.
    """
    if not isinstance(template, str) or len(template) > MAX_TEMPLATE:
        raise InvalidInputError(
            f"a payload template is JSON text of at most {MAX_TEMPLATE} characters",
            {"max": MAX_TEMPLATE},
        )
    try:
        json.loads(_outside_strings(template, {}))
    except ValueError as exc:
        raise InvalidInputError(f"the payload template is not JSON: {exc}") from exc
    return template


def render(template: str, payload: dict[str, Any], secrets: dict[str, str]) -> Any:
    """The body a template gives for a delivery's payload, as a JSON value."""
    values = variables(payload, secrets)
    return _in_strings(json.loads(_outside_strings(template, values)), values)
