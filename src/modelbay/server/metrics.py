"""Prometheus metrics: requests and their latency per operation, and the work queued in the
database (the same figure from every replica, since the database is shared).

With several worker processes (``modelbay server --workers N``) the counters live in
``PROMETHEUS_MULTIPROC_DIR`` (set by the ``server`` command), so that a scrape reaching any
worker sees all of them: prometheus_client's multiprocess mode.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from modelbay.services import Services

#: Where the counters of a single process live; multiprocess mode ignores it.
_REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "modelbay_requests_total",
    "HTTP requests answered, by operation (the route's name), method and status.",
    ["operation", "method", "status"],
    registry=_REGISTRY,
)
LATENCY = Histogram(
    "modelbay_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by operation.",
    ["operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=_REGISTRY,
)


class RequestMetrics:
    """Count and time every HTTP request, labelled by the name of the route that took it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            # A declared operation's endpoint is named after it (server/api/routes.py).
            route = scope.get("route")
            name = getattr(route, "name", None) or getattr(scope.get("endpoint"), "__name__", None)
            name = name or "unmatched"
            REQUESTS.labels(name, scope["method"], str(status)).inc()
            LATENCY.labels(name).observe(time.perf_counter() - started)


class _Queued(Collector):
    """Gauges read from the database at each scrape."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[GaugeMetricFamily]:
        queued = self.services.health.queued()
        for name, value in sorted(queued.items()):
            yield GaugeMetricFamily(f"modelbay_{name}", f"{name.replace('_', ' ')}", value)


def exposition(services: Services) -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Collected(_REGISTRY))
    registry.register(_Queued(services))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Collected(Collector):
    """Another registry's metrics, gathered into this one."""

    def __init__(self, inner: CollectorRegistry) -> None:
        self.inner = inner

    def collect(self) -> Iterator[object]:  # type: ignore[override]
        yield from self.inner.collect()
