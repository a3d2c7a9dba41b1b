"""Operational visibility: ``/healthz`` (the process answers), ``/readyz`` (database and blob store reachable) and
``/metrics`` (Prometheus text format).

Everything measured is an aggregate over the whole service: request counts by route class and status, ingest
latency and bytes, audit-append latency, and the spool backlog agents report (``X-Workprint-Spool-Pending``) as a
histogram. No label carries a participant, a device or a segment id, so the metrics reveal nobody's activity.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workprint.server.auth import Principal, api_of, public_access
from workprint.server.middleware import error_body
from workprint.server.overload import is_ingest

__all__ = ["SPOOL_PENDING_HEADER", "Metrics", "MetricsMiddleware", "install_metrics", "router"]

SPOOL_PENDING_HEADER = b"x-workprint-spool-pending"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_PENDING_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 20000)


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app, so tests never share counters)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "workprint_http_requests", "HTTP requests by route class and status.", ["route", "status"], registry=r
        )
        self.ingest_seconds = Histogram(
            "workprint_ingest_seconds", "Time to answer a segment upload.", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.ingest_bytes = Counter("workprint_ingest_bytes", "Bytes of segments accepted (stored).", registry=r)
        self.ingest_segments = Counter(
            "workprint_ingest_segments", "Segment uploads by outcome.", ["outcome"], registry=r
        )
        self.errors = Counter(
            "workprint_errors", "Error answers by kind (HTTP status) and route class.", ["route", "kind"], registry=r
        )
        self.ingest_in_progress = Gauge("workprint_ingest_in_progress", "Uploads being answered now.", registry=r)
        self.spool_pending = Histogram(
            "workprint_agent_spool_pending_segments",
            "Segments waiting in agents' spools, as reported with each upload (aggregate over all agents).",
            buckets=_PENDING_BUCKETS,
            registry=r,
        )
        self.audit_seconds = Histogram(
            "workprint_audit_append_seconds",
            "Time to insert one audit log entry.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def watch_audit(self, engine: Engine) -> None:
        """Time every audit-log insert on ``engine`` (the store's one write path appends entries this way)."""

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn: Any, _cur: Any, statement: str, *_: Any) -> None:
            if statement.startswith("INSERT INTO audit_log"):
                conn.info["wp_audit_t0"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn: Any, *_: Any) -> None:
            t0 = conn.info.pop("wp_audit_t0", None)
            if t0 is not None:
                self.audit_seconds.observe(time.perf_counter() - t0)


def _route_class(scope: Scope) -> str:
    # A fixed, small set of labels: paths carry ids that must never become label values.
    if is_ingest(scope):
        return "ingest"
    path = str(scope.get("path", ""))
    if path in ("/healthz", "/readyz", "/metrics", "/v1/healthz"):
        return "ops"
    return "api"


class MetricsMiddleware:
    """Count every HTTP answer; time and size segment uploads; record the spool backlog agents report."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        m = self.metrics
        route = _route_class(scope)
        status = 500
        if route == "ingest":
            pending = dict(scope["headers"]).get(SPOOL_PENDING_HEADER)
            if pending is not None and pending.isdigit():
                m.spool_pending.observe(int(pending))

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with self._timed(route):
            try:
                await self.app(scope, receive, counting_send)
            finally:
                m.requests.labels(route, str(status)).inc()
                if status >= 400:
                    m.errors.labels(route, str(status)).inc()
                if route == "ingest":
                    outcome = {201: "stored", 200: "duplicate"}.get(status, "refused")
                    m.ingest_segments.labels(outcome).inc()
                    if status == 201:
                        size = dict(scope["headers"]).get(b"content-length", b"0")
                        m.ingest_bytes.inc(int(size) if size.isdigit() else 0)

    @contextmanager
    def _timed(self, route: str) -> Iterator[None]:
        if route != "ingest":
            yield
            return
        self.metrics.ingest_in_progress.inc()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.metrics.ingest_seconds.observe(time.perf_counter() - t0)
            self.metrics.ingest_in_progress.dec()


router = APIRouter()


def metrics_of(request: Request) -> Metrics:
    """The app's ``Metrics``."""
    metrics: Metrics = request.app.state.metrics
    return metrics


@router.get("/healthz")
def healthz(_: Annotated[Principal, Depends(public_access)]) -> dict[str, str]:
    """Liveness: the process answers (no dependency is checked, so a slow database does not get it restarted)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(_: Annotated[Principal, Depends(public_access)], request: Request) -> Response:
    """Readiness: the metadata database answers and the blob store can be listed; 503 naming what failed."""
    api = api_of(request)
    problems = []
    try:
        await run_in_threadpool(api.metadata.ping)
    except Exception as exc:  # any failure means not ready; the answer names its type
        problems.append(f"database: unreachable ({type(exc).__name__})")
    try:
        await run_in_threadpool(api.blobs.exists, "readyz-probe")
    except Exception as exc:
        problems.append(f"blob store: unreachable ({type(exc).__name__})")
    if problems:
        return JSONResponse(error_body("not_ready", "; ".join(problems)), status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
def metrics(_: Annotated[Principal, Depends(public_access)], request: Request) -> Response:
    """Prometheus text format."""
    return Response(metrics_of(request).render(), media_type=CONTENT_TYPE_LATEST)


def install_metrics(app: FastAPI) -> Metrics:
    """Add the ops routes and the metrics middleware to ``app`` (whose ``state.api`` is set); returns the metrics."""
    m = Metrics()
    app.state.metrics = m
    m.watch_audit(app.state.api.metadata.engine)
    app.router.routes.extend(router.routes)  # flat, like the domain routes, so route-table checks see them
    app.add_middleware(MetricsMiddleware, metrics=m)
    return m
