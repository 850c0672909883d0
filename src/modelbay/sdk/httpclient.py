"""httpx for the SDK's transport, imported when first needed so that ``import modelbay``
stays light.

The HTTP transport imports these two names; once it imports httpx itself, this module can go.
"""

from __future__ import annotations

import functools
import ssl
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from modelbay.sdk.large_reads import LargeReadsTransport


@functools.cache
def verified_context() -> ssl.SSLContext:
    """The TLS context httpx verifies servers with (its CA bundle, ``SSL_CERT_FILE``), made
    once, for the SDK's own ``http.client`` connections."""
    import httpx

    return httpx.create_ssl_context()


def httpx_module() -> types.ModuleType:
    """The ``httpx`` module, imported on first call."""
    import httpx

    return httpx


def client(
    *,
    verify: bool | ssl.SSLContext = True,
    limits: httpx.Limits | None = None,
    transport: LargeReadsTransport | None = None,
    **kwargs: Any,
) -> httpx.Client:
    """``httpx.Client(**kwargs)`` whose connections read large (see sdk/large_reads.py), over
    ``transport`` when given."""
    import httpx

    from modelbay.sdk.large_reads import LargeReadsTransport

    if transport is None:
        transport = LargeReadsTransport(verify=verify, limits=limits or httpx.Limits())
    return httpx.Client(transport=transport, **kwargs)
