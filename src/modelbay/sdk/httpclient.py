"""httpx for the SDK's transport, imported when first needed so that ``import modelbay``
stays light.

The HTTP transport imports these two names; once it imports httpx itself, this module can go.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx


def httpx_module() -> types.ModuleType:
    """The ``httpx`` module, imported on first call."""
    import httpx

    return httpx


def client(**kwargs: Any) -> httpx.Client:
    """``httpx.Client(**kwargs)``."""
    import httpx

    return httpx.Client(**kwargs)
