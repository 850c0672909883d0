"""``define_metric`` definitions as a run stores them, and which one applies to a key.

The SDK sends a run's definitions whole, in the order they were made, as a list of
``{"name", "step_metric", "step_sync", "hidden", "summary", "goal"}``; the server keeps
them on the run, and its charts and history reads resolve each metric key with
:func:`applies`, by W&B's rule: a key's own definition, else the first glob (a name ending
in ``*``, W&B's only glob form) whose prefix it starts with. Keys starting with ``_`` are
W&B's own, and ``system/*`` keys are the machine's (W&B keeps them out of the history): no
glob matches them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelbay.errors import InvalidInputError

SUMMARIES = ("min", "max", "mean", "last", "first", "best", "none", "copy")
GOALS = {"minimize": "min", "maximize": "max", "min": "min", "max": "max"}
MAX_DEFINITIONS = 1000
MAX_NAME_CHARS = 256
SYSTEM_PREFIX = "system/"
FIELDS = frozenset({"name", "step_metric", "step_sync", "hidden", "summary", "goal"})


def check_name(name: object, what: str = "metric name") -> str:
    """A metric name or glob W&B accepts: 1 to 256 printable characters, ``*`` only last.

    Raises:
        InvalidInputError: anything else.
    """
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS:
        raise InvalidInputError(f"define_metric: invalid {what} {str(name)[:80]!r}")
    if not name.isprintable() or "*" in name[:-1]:
        raise InvalidInputError(
            f"define_metric: invalid {what} {name[:80]!r} (a glob may only end in '*')"
        )
    return name


def is_glob(name: str) -> bool:
    return name.endswith("*")


def globbed(key: str, glob: str) -> bool:
    """Whether the glob ``glob`` (a name ending in ``*``) matches the metric ``key``."""
    return key.startswith(glob[:-1]) and key[:1] != "_" and not key.startswith(SYSTEM_PREFIX)


def check(definitions: object) -> list[dict[str, Any]]:
    """Definitions as a request carries them, checked and normalised.

    Raises:
        InvalidInputError: not a list of definitions, or one malformed.
    """
    if not isinstance(definitions, list | tuple) or len(definitions) > MAX_DEFINITIONS:
        raise InvalidInputError(f"metric_defs must be a list of at most {MAX_DEFINITIONS}")
    out: list[dict[str, Any]] = []
    for d in definitions:
        if not isinstance(d, dict) or not d.keys() <= FIELDS:
            raise InvalidInputError(
                f"a metric definition is an object of {', '.join(sorted(FIELDS))}"
            )
        step_metric = d.get("step_metric")
        summary = d.get("summary") or []
        goal = d.get("goal")
        if not isinstance(summary, list) or any(s not in SUMMARIES for s in summary):
            raise InvalidInputError(f"summary must be a list of {', '.join(SUMMARIES)}")
        if goal is not None and goal not in GOALS:
            raise InvalidInputError("goal must be 'minimize' or 'maximize'")
        for flag in ("step_sync", "hidden"):
            if d.get(flag) is not None and not isinstance(d.get(flag), bool):
                raise InvalidInputError(f"{flag} must be true or false")
        out.append(
            {
                "name": check_name(d.get("name")),
                "step_metric": None
                if step_metric is None
                else check_name(step_metric, "step metric"),
                "step_sync": d.get("step_sync"),
                "hidden": bool(d.get("hidden")),
                "summary": list(summary),
                "goal": goal,
            }
        )
    return out


def applies(definitions: Sequence[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """The definition that applies to ``key``: its own, else the first glob it matches."""
    glob = None
    for d in definitions:
        name = d["name"]
        if name == key:
            return d
        if glob is None and is_glob(name) and globbed(key, name):
            glob = d
    return glob


def step_metric(definitions: Sequence[dict[str, Any]], key: str) -> str | None:
    """The metric ``key`` is plotted against by default, None for the step. A step metric
    is never plotted against itself (a glob ``train/*`` also matches ``train/step``)."""
    d = applies(definitions, key)
    axis = d.get("step_metric") if d else None
    return axis if axis and axis != key else None


def hidden(definitions: Sequence[dict[str, Any]], key: str) -> bool:
    d = applies(definitions, key)
    return bool(d and d.get("hidden"))


def step_metrics(definitions: Sequence[dict[str, Any]]) -> list[str]:
    """Every metric declared as some metric's x axis, in the order first declared."""
    return list(dict.fromkeys(d["step_metric"] for d in definitions if d.get("step_metric")))
