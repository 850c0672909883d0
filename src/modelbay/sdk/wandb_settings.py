"""W&B's ``wandb.Settings(...)`` and ``wandb.setup(settings=...)``, as ``init(settings=...)``
takes them.

The settings that change what modelbay does are :data:`APPLIED`: ``mode``, ``silent`` and
``quiet`` (no "view it at" line), ``project``, ``entity``, the run's ``run_id``,
``run_name``, ``run_group``, ``run_job_type``, ``run_tags``, ``run_notes``, ``resume``,
``reinit`` and ``root_dir`` (each used where the ``init`` argument is not given), and
``base_url`` with ``api_key`` (the server to log to; W&B's own cloud, ``*.wandb.ai``, is
not a modelbay server and is ignored, and a key is used only when logging over HTTP).

Every other setting W&B documents (``console``, ``init_timeout``, ``start_method``,
``save_code``, ``code_dir``, ``disable_git``, ``disable_code``, ``disable_job_creation``,
``show_info``, ``show_warnings``, ``show_errors``, ``x_disable_stats``,
``x_stats_sampling_interval``, ``x_label``, ``x_primary``, ``anonymous``, ``program``,
``ignore_globs``, ``sync_tensorboard``, ``_disable_stats``, ``_disable_meta``,
``_service_wait`` and the rest) is accepted, kept, readable as an attribute, and changes
nothing: :attr:`Settings.ignored` names them. A name neither list knows is treated the
same way rather than refused, so that settings of a newer W&B client do not break a script.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from modelbay import settings as modelbay_settings
from modelbay.errors import InvalidInputError

#: The settings modelbay acts on (see the module docstring).
APPLIED = frozenset(
    {
        "mode",
        "silent",
        "quiet",
        "project",
        "entity",
        "base_url",
        "api_key",
        "run_id",
        "run_name",
        "run_group",
        "run_job_type",
        "run_tags",
        "run_notes",
        "resume",
        "reinit",
        "root_dir",
    }
)

#: The ``init`` argument each run setting fills when the argument is not given.
INIT_ARGUMENTS = {
    "mode": "mode",
    "project": "project",
    "entity": "entity",
    "run_id": "id",
    "run_name": "name",
    "run_group": "group",
    "run_job_type": "job_type",
    "run_tags": "tags",
    "run_notes": "notes",
    "resume": "resume",
    "reinit": "reinit",
    "root_dir": "dir",
}


class Settings:
    """W&B's ``wandb.Settings``: keyword settings, readable and assignable as attributes
    (an unset one reads as None)."""

    def __init__(self, **values: Any) -> None:
        object.__setattr__(self, "_values", {})
        self.update(**values)

    def update(self, settings: Settings | Mapping[str, Any] | None = None, **values: Any) -> None:
        """Set the given settings (another :class:`Settings` or a mapping, then keywords)."""
        merged = {**as_dict(settings), **values}
        for name, value in merged.items():
            setattr(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "mode" and value is not None and not isinstance(value, str):
            raise InvalidInputError(f"mode must be a string, not {value!r}")
        if name == "run_tags" and isinstance(value, str):
            value = [value]
        self._values[name] = value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._values.get(name)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def clear(self) -> None:
        """Forget every setting."""
        self._values.clear()

    @property
    def ignored(self) -> list[str]:
        """The settings given that change nothing in modelbay."""
        return sorted(name for name in self._values if name not in APPLIED)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._values.items() if k != "api_key")
        return f"Settings({shown})"


def as_dict(settings: Settings | Mapping[str, Any] | None) -> dict[str, Any]:
    if settings is None:
        return {}
    if isinstance(settings, Settings):
        return settings.to_dict()
    if isinstance(settings, Mapping):
        return dict(settings)
    raise InvalidInputError(f"settings must be wandb.Settings or a dict, not {type(settings)}")


#: The settings of ``setup()``, used by every later ``init``.
_global = Settings()


#: The environment variables ``setup`` sets, so that child processes inherit the settings
#: (as W&B's ``setup`` modifies ``os.environ``).
ENVIRONMENT = {
    "project": "MODELBAY_PROJECT",
    "entity": "MODELBAY_ENTITY",
    "mode": "MODELBAY_MODE",
    "run_group": "MODELBAY_RUN_GROUP",
    "run_job_type": "MODELBAY_JOB_TYPE",
    "silent": "MODELBAY_SILENT",
}
#: What ``setup`` found in the environment before it changed it, for ``teardown``.
_saved_env: dict[str, str | None] = {}


def setup(settings: Settings | Mapping[str, Any] | None = None) -> Settings:
    """W&B's ``wandb.setup``: ``settings`` become the defaults of every later ``init`` in
    this process, and (through the environment) in the processes it starts. Returns the
    process's settings."""
    _global.update(settings)
    values = _global.to_dict()
    for name, variable in ENVIRONMENT.items():
        value = values.get(name)
        if value is None or value is False:
            continue
        _saved_env.setdefault(variable, os.environ.get(variable))
        os.environ[variable] = "true" if value is True else str(value)
    return _global


def teardown(exit_code: int | None = None) -> None:
    """W&B's ``wandb.teardown``: finish the current run and forget ``setup``'s settings."""
    import modelbay

    current = getattr(modelbay, "run", None)
    if current is not None:
        current.finish(exit_code=exit_code)
    _global.clear()
    for variable, value in _saved_env.items():
        if value is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = value
    _saved_env.clear()


def resolve(given: Settings | Mapping[str, Any] | None) -> Settings:
    """``setup``'s settings with ``given`` over them."""
    out = Settings(**_global.to_dict())
    out.update(given)
    return out


def fill(wb: Settings, **given: Any) -> dict[str, Any]:
    """The ``init`` arguments ``given``, each left None filled from the settings."""
    out = dict(given)
    values = wb.to_dict()
    for name, arg in INIT_ARGUMENTS.items():
        if out.get(arg) is None and values.get(name) is not None:
            out[arg] = values[name]
    return out


def _is_wandb_cloud(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return host == "wandb.ai" or host.endswith(".wandb.ai")


def connection(wb: Settings, base: modelbay_settings.Settings) -> modelbay_settings.Settings:
    """``base`` (from the environment) with the server and key the settings name."""
    url = base.url
    if isinstance(wb.base_url, str) and wb.base_url and not _is_wandb_cloud(wb.base_url):
        url = wb.base_url.rstrip("/")
    key = base.api_key
    if url and isinstance(wb.api_key, str) and wb.api_key:
        key = wb.api_key
    if (url, key) == (base.url, base.api_key):
        return base
    return dataclasses.replace(base, url=url, api_key=key)


def quiet(wb: Settings) -> bool:
    return bool(wb.silent or wb.quiet)


def silenced(quiet: bool = False) -> bool:
    """Whether to print nothing: W&B's ``silent``/``quiet`` setting, or ``MODELBAY_SILENT``
    or ``WANDB_SILENT`` in the environment."""
    return quiet or any(
        os.environ.get(v, "").lower() in ("1", "true", "yes")
        for v in ("MODELBAY_SILENT", "WANDB_SILENT")
    )
