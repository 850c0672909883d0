"""httpx, imported without its command-line client.

httpx 0.28 imports its CLI module (``httpx._main``: click, pygments, rich) whenever those
are installed, and beside modelbay they are (Typer and Rich). That is about half of httpx's
import time, paid by every script at ``modelbay.init()`` (40-80 ms here). Upstream now
imports it lazily (pydantic/httpx2#947). Until the httpx we install does, a stand-in module
takes its place, and loads the real one the first time ``httpx.main`` is called.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_CLI = "httpx._main"


def _cli_main(*args: Any, **kwargs: Any) -> Any:
    """``httpx.main``: loads the real CLI module, then runs it."""
    stand_in = sys.modules.get(_CLI)
    if stand_in is not None and getattr(stand_in, "main", None) is _cli_main:
        del sys.modules[_CLI]
    return importlib.import_module(_CLI).main(*args, **kwargs)


def httpx_module() -> types.ModuleType:
    """The ``httpx`` module (imported on first call, without its CLI)."""
    if "httpx" not in sys.modules and _CLI not in sys.modules:
        stand_in = types.ModuleType(_CLI)
        stand_in.main = _cli_main  # type: ignore[attr-defined]
        sys.modules[_CLI] = stand_in
    import httpx

    return httpx
