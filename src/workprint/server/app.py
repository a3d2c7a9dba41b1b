"""HTTP routes of the collection service: each one translates a request to a ``ServerAPI`` call and back.

Every route depends on one of ``auth.AUTH_DEPENDENCIES``. Every error, ours or the framework's, leaves in one shape:
``{"error": {"code": "...", "message": "..."}}``. Request bodies are strict (``extra="forbid"``) and size-limited.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from workprint.errors import HTTPError
from workprint.server.api import ServerAPI
from workprint.server.auth import Principal, api_of, device_access, public_access
from workprint.server.metrics import install_metrics
from workprint.server.middleware import HardenResponses, LimitBody, error_body
from workprint.server.overload import install_ingest_guard
from workprint.server.ratelimit import RateLimiter, RateLimits
from workprint.server.routes import router as domain_router
from workprint.server.signin import enrolment_done, limit_enrolment

__all__ = ["JSON_BODY_LIMIT", "EnrollRequest", "create_app"]

JSON_BODY_LIMIT = 64 * 1024
_STATUS_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


class EnrollRequest(BaseModel):
    """``POST /v1/enroll`` body."""

    model_config = ConfigDict(strict=True, extra="forbid")
    code: str = Field(min_length=1, max_length=100)
    device_name: str = Field(min_length=1, max_length=200)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def validation_message(errors: Sequence[Any]) -> str:
    """``field: message (got value)`` for each problem, joined on one line."""
    parts = []
    for e in errors:
        loc = [str(x) for x in e.get("loc", ())]
        field = ".".join(loc[1:]) if len(loc) > 1 and loc[0] in ("body", "path", "query", "header") else ".".join(loc)
        text = f"{field or 'body'}: {e.get('msg', 'invalid')}"
        if "input" in e and e.get("type") != "missing":
            text += f" (got {repr(e['input'])[:80]})"
        parts.append(text)
    return "; ".join(parts)


def _install_error_handlers(app: FastAPI) -> None:
    async def on_http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}
        return _error(exc.status, exc.code, exc.message, headers)

    async def on_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _error(422, "invalid_request", validation_message(exc.errors()))

    async def on_starlette(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return _error(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))

    app.add_exception_handler(HTTPError, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_starlette)


def create_app(api: ServerAPI, *, limits: RateLimits | None = None) -> FastAPI:
    """The collection service's ASGI app over ``api``, rate-limited by ``limits`` (defaults when None)."""
    app = FastAPI(title="workprint collection service", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.api = api
    app.state.limiter = RateLimiter()
    app.state.limits = limits or RateLimits()
    # Flat APIRoutes (not an included router), so the route table lists every route for the auth tests.
    app.router.routes.extend(domain_router.routes)
    _install_error_handlers(app)
    from workprint.portal.pages import PortalMount  # HTML pages under /portal (a middleware: no routes added here)

    # Innermost, so every other middleware covers the pages too; one limiter, so sign-ins count once.
    app.add_middleware(PortalMount, api=api, limiter=app.state.limiter, limits=app.state.limits)

    def limit_for(path: str) -> int:
        return api.settings.max_segment_bytes if path.startswith("/v1/segments/") else JSON_BODY_LIMIT

    install_ingest_guard(app, api.settings)  # ingest only: 503 when overloaded, 507 when the disk is nearly full
    install_metrics(app)  # outside the guard, so its refusals are counted; adds /healthz /readyz /metrics
    app.add_middleware(LimitBody, limit_for=limit_for)
    app.add_middleware(HardenResponses)  # added last, so outermost: it also covers LimitBody's answers

    @app.get("/v1/healthz")
    def healthz(_: Annotated[Principal, Depends(public_access)], request: Request) -> dict[str, str]:
        return api_of(request).health()

    @app.post("/v1/enroll", status_code=201)
    def enroll(
        body: EnrollRequest, _: Annotated[Principal, Depends(public_access)], request: Request
    ) -> dict[str, str]:
        limit_enrolment(request)
        e = api_of(request).enroll(body.code, body.device_name)
        enrolment_done(request)
        return {
            "participant_id": e.participant_id,
            "device_id": e.device_id,
            "device_token": e.device_token,
            "public_key": base64.b64encode(e.public_key).decode(),
            "notice_version": e.notice_version,
        }

    @app.put("/v1/segments/{segment_id}")
    async def put_segment(
        segment_id: str, who: Annotated[Principal, Depends(device_access)], request: Request
    ) -> Response:
        try:
            data = await request.body()
        except ClientDisconnect:
            # The client left, or LimitBody already answered 413; nothing more can be sent.
            return Response(status_code=400)
        assert who.device is not None
        status = await run_in_threadpool(api_of(request).ingest, who.device, segment_id, data)
        return JSONResponse({"id": segment_id, "status": status}, status_code=201 if status == "stored" else 200)

    @app.post("/v1/consents", status_code=201)
    def post_consent(
        body: dict[str, Any], who: Annotated[Principal, Depends(device_access)], request: Request
    ) -> dict[str, Any]:
        from workprint.server.consent import consent_of  # consent receipts: domain in server.consent

        assert who.device is not None
        service = consent_of(api_of(request))
        return {"receipt": service.receive(who.device, body), "server_key": service.public_key}

    @app.get("/v1/notice")
    def get_notice(_: Annotated[Principal, Depends(device_access)], request: Request) -> dict[str, Any]:
        from workprint.server.consent import consent_of

        return consent_of(api_of(request)).notice()

    return app
