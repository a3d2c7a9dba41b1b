"""Pure ASGI middleware: security headers and a catch-all on every response, and request body limits.

Both sit outside FastAPI's own exception handling, so they also cover responses the router produces itself and
failures nobody expected; errors they produce use the one JSON error shape.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workprint.errors import BadRequest, HTTPError, PayloadTooLarge

log = logging.getLogger("workprint.server")

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


def error_body(code: str, message: str) -> dict[str, Any]:
    """The one JSON error shape."""
    return {"error": {"code": code, "message": message}}


async def send_error(send: Send, err: HTTPError) -> None:
    """Answer with ``err`` in the JSON error shape, closing the connection (the body may be left unread)."""
    body = json.dumps(error_body(err.code, err.message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": err.status, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class HardenResponses:
    """Add security headers to every response; turn an unexpected exception into a JSON 500 (logged)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_hardened(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_hardened)
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await send_error(send_hardened, HTTPError("internal server error"))


# How much of a refused body is read and discarded before answering. A server that answers and closes while the
# client is still sending makes the client's kernel see a reset, and the client never reads the 413 (it would retry
# a segment it should give up on); beyond this much, the bandwidth is not worth it.
DRAIN_LIMIT = 16 * 1024 * 1024


async def drain_body(receive: Receive, budget: int) -> None:
    """Read and discard up to ``budget`` bytes of a request body we refuse (see ``DRAIN_LIMIT``)."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class LimitBody:
    """Refuse request bodies over ``limit_for(path)`` bytes with 413: by Content-Length first, then while streaming.

    When a streamed body passes the limit, the 413 is sent from here and the application sees a disconnect; any
    response it still tries to send is dropped. The rest of a refused body is discarded (up to ``DRAIN_LIMIT``)
    before answering, so that the client reads the 413 rather than a connection reset.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await send_error(
                    send, BadRequest(f"content-length: not a number: {declared.decode(errors='replace')!r}")
                )
                return
            if int(declared) > limit:
                if int(declared) <= limit + DRAIN_LIMIT:
                    await drain_body(receive, DRAIN_LIMIT)
                await send_error(send, _too_large(int(declared), limit))
                return
        received = 0
        refused = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if message.get("more_body", False):
                        await drain_body(receive, DRAIN_LIMIT)
                    if not started:
                        await send_error(send, _too_large(received, limit, streaming=True))
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


def _too_large(size: int, limit: int, *, streaming: bool = False) -> PayloadTooLarge:
    what = f"more than {limit} bytes received" if streaming else f"{size} bytes declared"
    return PayloadTooLarge(f"body: {what}; the limit is {limit} bytes")
