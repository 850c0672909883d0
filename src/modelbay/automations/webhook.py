"""Sending one HTTP delivery: destinations checked, Standard Webhooks headers and signature,
the answer classified, the request summarised with its secrets redacted.

Signature: ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with a
``whsec_`` secret, computed by the ``standardwebhooks`` package, which receivers use to
verify it. Redirects are not followed (a 3xx is a failure), and a request times out after
15 seconds.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

TIMEOUT = 15.0
#: How much of an answer's body an attempt keeps.
HEAD_BYTES = 1024
USER_AGENT = "modelbay-webhooks/1"
REDACTED = "[redacted]"


class RefusedDestination(Exception):
    """The URL is not one to send to: not http(s), no host, or (unless allowed) a host on a
    loopback, private, link-local or otherwise non-public network."""


def check_url(url: str) -> str:
    """The URL when its form is one to send to (http or https, with a host).

    Raises:
        RefusedDestination: another scheme, or no host.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise RefusedDestination(f"not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedDestination("an http:// or https:// URL with a host is needed")
    return url


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def literal_private(url: str) -> bool:
    """Whether the URL's host is ``localhost`` or an address literal that is not public
    (checked without a DNS look-up, as when an automation is saved)."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return not _public(host)
    except ValueError:
        return False


def check_destination(url: str, allow_private: bool) -> None:
    """Refuse a URL whose host resolves to a non-public address, unless allowed.

    Raises:
        RefusedDestination: why.
    """
    check_url(url)
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConnectionError(f"cannot resolve {host}: {exc}") from exc
    for info in infos:
        address = str(info[4][0])
        if not _public(address):
            raise RefusedDestination(
                f"{host} resolves to {address}, a loopback or private address; refused "
                "unless the server allows private destinations (--allow-private-destinations)"
            )


@dataclass
class Outcome:
    """What one attempt found."""

    request: dict[str, Any]
    status: int | None = None
    head: str | None = None
    latency_ms: float | None = None
    error: str | None = None
    retry_after: float | None = None
    #: The destination was refused: retrying cannot help.
    refused: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def signed_headers(
    message_id: str, timestamp: float, body: bytes, signing_secret: str | None
) -> dict[str, str]:
    """Standard Webhooks' three headers (the signature only when there is a secret)."""
    headers = {"webhook-id": message_id, "webhook-timestamp": str(int(timestamp))}
    if signing_secret:
        from standardwebhooks.webhooks import Webhook

        when = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
        headers["webhook-signature"] = Webhook(signing_secret).sign(message_id, when, body)
    return headers


def redact(value: Any, secrets: list[str]) -> Any:
    """``value`` with every secret's text replaced by ``[redacted]``."""
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    return value


def _retry_after(response: httpx.Response) -> float | None:
    text = response.headers.get("retry-after")
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime

        return max(0.0, parsedate_to_datetime(text).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def post(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    secrets: list[str],
    allow_private: bool,
) -> Outcome:
    """POST ``body`` to ``url`` once; never raises for the network or the answer."""
    sent_headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **headers,
    }
    summary_headers = {
        k: (REDACTED if k.lower() in ("authorization", "proxy-authorization") else v)
        for k, v in sent_headers.items()
    }
    summary = {
        "method": "POST",
        "url": redact(url, secrets),
        "headers": redact(summary_headers, secrets),
        "body": redact(body[:4096].decode("utf-8", "replace"), secrets),
    }
    outcome = Outcome(request=summary)
    try:
        check_destination(url, allow_private)
    except RefusedDestination as exc:
        outcome.error, outcome.refused = str(exc), True
        return outcome
    except ConnectionError as exc:
        outcome.error = str(exc)
        return outcome
    start = time.perf_counter()
    try:
        with client.stream("POST", url, content=body, headers=sent_headers) as response:
            head = b""
            for chunk in response.iter_bytes():
                head += chunk
                if len(head) >= HEAD_BYTES:
                    break
            outcome.status = response.status_code
            outcome.head = head[:HEAD_BYTES].decode("utf-8", "replace")
            outcome.retry_after = _retry_after(response)
            outcome.headers = dict(response.headers)
    except httpx.HTTPError as exc:
        outcome.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    outcome.latency_ms = (time.perf_counter() - start) * 1000
    if outcome.status is not None and 300 <= outcome.status < 400:
        outcome.error = f"redirect ({outcome.status}) not followed"
    return outcome


def new_client() -> httpx.Client:
    return httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False)
