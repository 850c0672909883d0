"""Signed S3 HEADs for objects' sizes and stored sha256s, many at a time.

Completing 10,000 small uploads over S3 takes 10,000 HEADs, and the server's CPU, not the
store, was what limited them (2 cores, SeaweedFS): botocore spends about 1.1 ms of CPU on one,
a urllib3 request signed with botocore's signer 0.42 ms, and 10,000 of those took 5.3-6.1 s
whether 8, 16 or 32 went at once (more at 64). One at a time on a kept-alive http.client
connection, signed here, a HEAD costs 0.18 ms (10,000 in 2.4-2.8 s). Here a HEAD is signed with
a key derived once a day and sent on a kept-alive connection together with the next ones
(HTTP/1.1 pipelining: the requests go out at once, the answers come back in their order):
about 30 µs of CPU, and 10,000 take 0.7-1.0 s, the store's own pace (1-8 connections of
16-256 requests in flight: 4 of 64 is as fast as any).

An answer taken for another key's could not let wrong bytes in: a blob's key holds its
sha256, and the caller compares the checksum answered with it.

Only plain answers are taken: 200 with a length, and 404. A key answered otherwise is left
out, for botocore to ask (it knows redirects, other addressing styles and its own retries).
After any answer but a 5xx, or a store that cannot be reached or gives no answer at all (on a
new connection: a kept-alive one may have been closed while idle), this path stays off; so it
does when signatures made here are not botocore's, checked once.
"""

from __future__ import annotations

import datetime
import hashlib
import socket
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlsplit

from modelbay.blobs.sigv4 import ALGORITHM, S3Signer, signed_host

#: (size, base64 sha256 as the store keeps it, or None), or None for no such object.
Answer = tuple[int, str | None] | None

#: Connections a batch is spread over, and requests in flight on each.
CONNECTIONS = 4
DEPTH = 64
#: Connections of one batch that end early, after which the store is taken not to
#: pipeline (see SignedHeads._run).
SHORT_CONNECTIONS = 3
#: An answer's headers longer than this end the connection (nothing plain is that long).
MAX_HEADERS = 64 << 10
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: A fixed time for the one check of signatures made here against botocore's.
_CHECK_STAMP = "20240102T030405Z"


class SignedHeads:
    """HEAD requests for an object's size and stored sha256, signed here and pipelined on a
    few kept-alive connections of its own; see the module docstring."""

    def __init__(self, session: Any, client: Any) -> None:
        import urllib.request

        self.credentials = session.get_credentials()
        self.region = str(client.meta.region_name)
        self.endpoint = str(client.meta.endpoint_url).rstrip("/")
        parts = urlsplit(self.endpoint)
        self.secure = parts.scheme == "https"
        self.hostname = parts.hostname or ""
        self.port = parts.port or (443 if self.secure else 80)
        self.host = signed_host(parts)
        self.base = parts.path
        # Off without credentials, and behind a proxy (botocore goes through it; this would
        # not).
        self.off = (
            self.credentials is None
            or parts.scheme not in ("http", "https")
            or not self.hostname
            or bool(parts.query or parts.username)
            or bool(urllib.request.getproxies())
            or bool(client.meta.config.proxies)
        )
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self.signer = S3Signer(self.region)
        self._agrees: bool | None = None

    def head(self, bucket: str, key: str) -> Answer:
        """The object's (size, base64 sha256 or None), None if there is none.

        Raises:
            LookupError: no plain answer; ask botocore.
        """
        found = self.head_many(bucket, [key])
        if key not in found:
            raise LookupError(f"no plain answer to a signed HEAD of {key}")
        return found[key]

    def head_many(self, bucket: str, keys: Sequence[str]) -> dict[str, Answer]:
        """The answer for each key that got a plain one; the others are left out."""
        if self.off or not keys:
            return {}
        runs = -(-len(keys) // DEPTH)
        if runs == 1:
            return self._run(bucket, keys)
        step = -(-len(keys) // min(CONNECTIONS, runs))
        found: dict[str, Answer] = {}
        with ThreadPoolExecutor(min(CONNECTIONS, runs)) as pool:
            chunks = [keys[i : i + step] for i in range(0, len(keys), step)]
            for part in pool.map(lambda chunk: self._run(bucket, chunk), chunks):
                found.update(part)
        return found

    def close(self) -> None:
        """Close the kept-alive connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _run(self, bucket: str, keys: Sequence[str]) -> dict[str, Answer]:
        """Ask for ``keys`` on one connection, DEPTH at a time."""
        found: dict[str, Answer] = {}
        conn: _Connection | None = None
        done = 0
        gave_nothing = False
        short = 0  # connections that ended having answered under a quarter of their window
        try:
            while done < len(keys) and not self.off:
                window = keys[done : done + DEPTH]
                try:
                    requests = self._requests(bucket, window)
                    conn = conn or self._checkout()
                except Exception:  # no credentials now, or the store cannot be reached
                    self.off = True
                    break
                answers = conn.exchange(requests, len(window))
                for key, (status, headers) in zip(window, answers, strict=False):
                    length = headers.get("content-length")
                    if status == 200 and length is not None and length.isdigit():
                        found[key] = int(length), headers.get("x-amz-checksum-sha256")
                    elif status == 404:
                        found[key] = None
                    elif status < 500:  # a 5xx is botocore's to retry; anything else...
                        self.off = True
                done += len(answers)
                if conn.broken:
                    conn.close()
                    idle_dropped, conn = conn.reused and not answers, None
                    if idle_dropped:
                        # Closed by the store while idle (as the other idle ones may be):
                        # it says nothing of how the store takes pipelined requests.
                        continue
                    # The store closed the connection after some answers, or a new one
                    # at once: the rest go again on a new one, once in a row without any
                    # answer. A store that keeps answering only a few requests a
                    # connection does not take them pipelined: a new connection for every
                    # few would be slower than botocore's pool, which the rest are left to.
                    if not answers and gave_nothing:
                        self.off = True
                    gave_nothing = not answers
                    short += len(answers) < len(window) // 4
                    if short >= SHORT_CONNECTIONS:
                        self.off = True
        except BaseException:
            if conn is not None:  # it may hold answers not read: never used again
                conn.close()
            raise
        if conn is not None:
            self._checkin(conn)
        return found

    def _requests(self, bucket: str, keys: Sequence[str]) -> bytes:
        credentials = self.credentials.get_frozen_credentials()
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        if self._agrees is None:
            self._agrees = self._check(credentials)
        if not self._agrees:
            raise LookupError("signed HEADs differ from botocore's")
        out = []
        for key in keys:
            path = f"{self.base}/{quote(bucket)}/{quote(key, safe='/~')}"
            lines = [f"HEAD {path} HTTP/1.1", f"Host: {self.host}"]
            lines += [f"{name}: {value}" for name, value in self._sign(path, credentials, stamp)]
            out.append("\r\n".join(lines) + "\r\n\r\n")
        return "".join(out).encode()

    def _sign(self, path: str, credentials: Any, stamp: str) -> list[tuple[str, str]]:
        """The headers that sign a HEAD of ``path`` (SigV4) at ``stamp``."""
        payload = EMPTY_SHA256  # a HEAD has no body
        headers = [
            ("x-amz-checksum-mode", "ENABLED"),
            ("x-amz-content-sha256", payload),
            ("x-amz-date", stamp),
        ]
        if credentials.token:
            headers.append(("x-amz-security-token", credentials.token))
        signed = sorted([("host", self.host), *headers])
        names = ";".join(name for name, _ in signed)
        canonical = "\n".join(
            ["HEAD", path, "", *(f"{n}:{v}" for n, v in signed), "", names, payload]
        )
        signature = self.signer.signature(credentials.secret_key, stamp, canonical)
        scope = self.signer.scope(stamp[:8])
        credential = f"{credentials.access_key}/{scope}"
        auth = f"{ALGORITHM} Credential={credential}, SignedHeaders={names}, Signature="
        return [*headers, ("Authorization", auth + signature)]

    def _check(self, credentials: Any) -> bool:
        """Whether the headers signed here are botocore's own, to the byte."""
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        class _At(S3SigV4Auth):  # type: ignore[misc]
            """botocore's add_auth, at the fixed time instead of now."""

            def add_auth(self, request: Any) -> None:
                request.context["timestamp"] = _CHECK_STAMP
                self._modify_request_before_signing(request)
                canonical = self.canonical_request(request)
                to_sign = self.string_to_sign(request, canonical)
                self._inject_signature_to_request(request, self.signature(to_sign, request))

        path = f"{self.base}/{quote('a-bucket')}/{quote('k/~ü ab+c', safe='/~')}"
        try:
            request = AWSRequest(
                "HEAD",
                f"{self.endpoint}{path[len(self.base) :]}",
                {"x-amz-checksum-mode": "ENABLED"},
            )
            _At(credentials, "s3", self.region).add_auth(request)
            theirs = {k.lower(): v for k, v in request.headers.items()}
            ours = {k.lower(): v for k, v in self._sign(path, credentials, _CHECK_STAMP)}
            return theirs == ours
        except Exception:
            return False

    def _checkout(self) -> _Connection:
        with self._lock:
            if self._idle:
                conn = self._idle.pop()
                conn.reused = True
                return conn
        sock = socket.create_connection((self.hostname, self.port), timeout=5.0)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.secure:
                import ssl

                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.hostname)
            sock.settimeout(60.0)
        except BaseException:
            sock.close()
            raise
        return _Connection(sock)

    def _checkin(self, conn: _Connection) -> None:
        with self._lock:
            if len(self._idle) < 2 * CONNECTIONS:
                self._idle.append(conn)
                return
        conn.close()


class _Connection:
    """One kept-alive connection to the store, and what it has received but not yet read."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.broken = False
        #: Taken from the idle ones: the store may have closed it meanwhile.
        self.reused = False

    def exchange(self, requests: bytes, count: int) -> list[tuple[int, dict[str, str]]]:
        """Send ``count`` HEAD requests at once and read their answers' status and headers
        (lower-cased names), in order. Fewer come back when the connection ends first
        (``broken`` is then set; the connection is not to be used again)."""
        answers: list[tuple[int, dict[str, str]]] = []
        try:
            self.sock.sendall(requests)
            data, start = self.buffer, 0
            while len(answers) < count:
                end = data.find(b"\r\n\r\n", start)
                if end < 0:
                    if len(data) - start > MAX_HEADERS:
                        raise ValueError("an answer's headers are too long")
                    chunk = self.sock.recv(1 << 16)
                    if not chunk:
                        raise ConnectionError("the store closed the connection")
                    data, start = data[start:] + chunk, 0
                    continue
                # A HEAD's answer has no body, whatever its headers say: the next answer
                # starts right after the blank line.
                status, headers = _parse(data[start:end])
                start = end + 4
                answers.append((status, headers))
                if headers.get("connection", "").lower() == "close":
                    raise ConnectionError("the store closes the connection")
            self.buffer = data[start:]
        except (OSError, ValueError):
            self.broken = True
        return answers

    def close(self) -> None:
        self.sock.close()


def _parse(head: bytes) -> tuple[int, dict[str, str]]:
    """The status and headers of an answer's head (no 1xx: a HEAD sends no Expect).

    Raises:
        ValueError: not an HTTP/1.x answer.
    """
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    status = rest[:3]
    if not version.startswith("HTTP/1.") or not status.isdigit() or int(status) < 200:
        raise ValueError(f"not an answer: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status), headers
