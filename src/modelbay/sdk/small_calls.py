"""REST calls with a small JSON body and answer, sent straight on the connection pool of the
SDK's httpx client, through httpcore's public API.

For such a call httpx's client costs more than the server's whole answer: it parses and
merges the URL, runs the cookie jar and the auth and redirect hooks, and logs a record, each
time. The calls here skip that and keep what matters: the same pool (kept-alive
connections, limits), the same timeouts, and httpx's exception classes, so callers handle
both paths alike. Uploads, downloads and streams stay on the httpx client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

import httpcore

from modelbay.sdk.large_reads import as_httpx_errors

if TYPE_CHECKING:
    import httpx

#: Characters a path keeps as they are (already percent-encoded parts stay encoded).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


@dataclass(frozen=True)
class Answer:
    """A response read whole: its status, headers (lower-case names) and body."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


class SmallCalls:
    """Send calls under ``base_url`` with ``headers`` on ``pool``."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        pool: httpcore.ConnectionPool,
        timeout: httpx.Timeout,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.scheme = parts.scheme.encode()
        self.host = parts.hostname.encode("idna")
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = parts.path.rstrip("/")
        self.headers = [
            (b"Host", parts.netloc.encode("idna")),
            (b"Accept", b"*/*"),
            *((k.encode(), v.encode()) for k, v in headers.items()),
        ]
        self.pool = pool
        self.extensions = {"timeout": timeout.as_dict()}

    def send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        content_type: str | None = None,
        query: dict[str, Any] | None = None,
    ) -> Answer:
        """One call; its answer, read whole.

        Raises:
            httpx.HTTPError: the subclass httpx raises for the same failure.
        """
        target = quote(self.base_path + path, safe=_PATH_SAFE)
        if query:
            target += "?" + urlencode([(k, _text(v)) for k, v in query.items()])
        headers = list(self.headers)
        if content is not None:
            headers.append((b"Content-Length", str(len(content)).encode()))
            if content_type:
                headers.append((b"Content-Type", content_type.encode()))
        elif method in ("POST", "PUT", "PATCH"):
            headers.append((b"Content-Length", b"0"))
        url = httpcore.URL(scheme=self.scheme, host=self.host, port=self.port, target=target)
        with as_httpx_errors():
            resp = self.pool.request(
                method, url, headers=headers, content=content, extensions=self.extensions
            )
        return Answer(
            resp.status,
            {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in resp.headers},
            resp.content,
        )


def _text(value: Any) -> str:
    """A query value as httpx writes it: booleans as ``true``/``false``."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)
