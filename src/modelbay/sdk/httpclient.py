"""httpx for the SDK's transport, imported when first needed so that ``import modelbay``
stays light.

The HTTP transport imports these two names; once it imports httpx itself, this module can go.
"""

from __future__ import annotations

import ssl
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx


def httpx_module() -> types.ModuleType:
    """The ``httpx`` module, imported on first call."""
    import httpx

    return httpx


def client(
    *, verify: bool | ssl.SSLContext = True, limits: httpx.Limits | None = None, **kwargs: Any
) -> httpx.Client:
    """``httpx.Client(**kwargs)`` whose connections read large (see sdk/large_reads.py)."""
    import httpx

    from modelbay.sdk.large_reads import LargeReadsTransport

    transport = LargeReadsTransport(verify=verify, limits=limits or httpx.Limits())
    return httpx.Client(transport=transport, **kwargs)
