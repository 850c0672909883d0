"""How a run behaves (:class:`RunSettings`), and its tracked ``config`` and ``summary``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from modelbay.errors import InvalidInputError
from modelbay.settings import HEARTBEAT_INTERVAL, heartbeat_interval, run_timeout


@dataclass(frozen=True)
class RunSettings:
    """How a run logs; read from the environment by :func:`init` unless given.

    Attributes:
        flush_interval: seconds between journal flushes (and sends); a crash of the
            training process loses at most this much logging (``MODELBAY_FLUSH_INTERVAL``).
        exit_timeout: seconds ``finish()`` (and interpreter exit) waits for an unreachable
            server before leaving the rest in the journal (``MODELBAY_EXIT_TIMEOUT``).
        system_interval: seconds between ``system/*`` samples; 0 turns them off
            (``MODELBAY_SYSTEM_INTERVAL``).
        keep_journal: keep a fully sent online run's journal after ``finish()``
            (``MODELBAY_KEEP_JOURNAL=1``); offline journals are always kept.
        heartbeat_interval: the most seconds between two sends of a live run, so that the
            server does not take a quiet run for a crashed one: 30, or a quarter of
            ``MODELBAY_RUN_TIMEOUT`` if that is less.
    """

    flush_interval: float = 1.0
    exit_timeout: float = 30.0
    system_interval: float = 15.0
    keep_journal: bool = False
    heartbeat_interval: float = HEARTBEAT_INTERVAL

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "keep_journal":
                continue
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise InvalidInputError(f"{f.name} must be a number of seconds >= 0")
        if self.heartbeat_interval <= 0:
            raise InvalidInputError("heartbeat_interval must be more than 0 seconds")
        if not 0.01 <= self.flush_interval <= 600:
            raise InvalidInputError("flush_interval must be between 0.01 and 600 seconds")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RunSettings:
        """Raises: InvalidInputError: a variable is not a number."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, var in (
            ("flush_interval", "MODELBAY_FLUSH_INTERVAL"),
            ("exit_timeout", "MODELBAY_EXIT_TIMEOUT"),
            ("system_interval", "MODELBAY_SYSTEM_INTERVAL"),
        ):
            text = env.get(var)
            if text:
                try:
                    values[name] = float(text)
                except ValueError:
                    raise InvalidInputError(f"{var} must be a number, not {text!r}") from None
        keep = env.get("MODELBAY_KEEP_JOURNAL", "").lower()
        values["keep_journal"] = keep in ("1", "true", "yes")
        values["heartbeat_interval"] = heartbeat_interval(
            run_timeout(env.get("MODELBAY_RUN_TIMEOUT"))
        )
        return cls(**values)


class _Tracked(dict[str, Any]):
    """A dict that notes when it changes, so that the run sends only what changed."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(data or {})
        self.dirty = False

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.dirty = True

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.dirty = True

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self.dirty = True

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self.dirty = True
        return super().setdefault(key, default)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self.dirty = True
        return super().pop(key, *default)

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        if key == "dirty":
            object.__setattr__(self, key, value)
        else:
            self[key] = value


class Config(_Tracked):
    """``run.config``: hyperparameters; item or attribute access; edits are persisted."""

    def update(self, *args: Any, allow_val_change: bool | None = None, **kwargs: Any) -> None:
        """Add values from a dict, or from an object that holds them as attributes (an
        ``argparse.Namespace``), as W&B does; ``allow_val_change`` is accepted (values may
        always change)."""
        if args and args[0] is not None and not isinstance(args[0], Mapping):
            args = (vars(args[0]), *args[1:])
        super().update(*[a for a in args if a is not None], **kwargs)

    def setdefaults(self, values: Mapping[str, Any]) -> None:
        """Set each value not set yet (W&B's ``config.setdefaults``)."""
        for key, value in values.items():
            self.setdefault(key, value)


class Summary(_Tracked):
    """``run.summary``: the last logged value of each key unless set by hand; persisted."""


def printable(value: Any) -> Any:
    """``value`` with every string (keys too) that holds a lone surrogate made printable.

    A file name read with ``os.fsdecode`` from bytes that are not UTF-8 holds such
    characters; no server can store them, and a training script should not fail on a
    config value. ``data_\\xff.csv`` is kept as the text ``data_\\xff.csv``.
    """
    if isinstance(value, str):
        return _printable_text(value)
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [printable(v) for v in value]
    return value


def _printable_text(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:  # the bytes os.fsdecode escaped, shown as \\xNN
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # any other lone surrogate, shown as \\udNNN
        return text.encode("utf-8", "backslashreplace").decode("utf-8")

