"""The HTTP transport to the collection server, and device enrolment.

The device talks to its configured server and nothing else: redirects are not followed and proxy settings from
the environment are ignored.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from workprint.errors import ConfigError, TransportError
from workprint.transport.base import UploadResult

# Statuses that are not the segment's fault: keep it and try again later (5xx too, 507 "server disk full" included).
RETRY_STATUSES = frozenset({401, 408, 425, 429})
SPOOL_PENDING_HEADER = "X-Workprint-Spool-Pending"


def check_base_url(base_url: str) -> str:
    """Validate a server URL and strip its trailing slash; raises ``ConfigError`` naming the value."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"server_url: expected an http:// or https:// URL, got {base_url!r}")
    return base_url.rstrip("/")


def unreachable(base_url: str, exc: httpx.HTTPError) -> str:
    """One line saying why the server could not be reached."""
    text = str(exc)
    if isinstance(exc, httpx.TimeoutException):
        why = "timed out"
    elif "refused" in text.lower():
        why = "connection refused"
    else:
        why = text or type(exc).__name__
    return f"server: cannot reach {base_url} ({why})"


def error_message(response: httpx.Response) -> str:
    """``code: message`` from the server's ``{"error": {"code", "message"}}`` shape, or the raw status."""
    try:
        err = response.json().get("error", {})
        return f"{err['code']}: {err['message']}"
    except (ValueError, AttributeError, KeyError, TypeError):
        return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def fetch_audit_head(base_url: str, since: int, *, timeout: float = 10.0) -> object:
    """``GET /v1/audit/checkpoint?since=…``'s JSON body; ``TransportError`` (one line) when it cannot be had."""
    base = check_base_url(base_url)
    try:
        r = httpx.get(
            f"{base}/v1/audit/checkpoint", params={"since": since}, timeout=timeout, trust_env=False,
            follow_redirects=False,
        )  # fmt: skip
    except httpx.HTTPError as exc:
        raise TransportError(unreachable(base, exc)) from None
    if r.status_code != 200:
        raise TransportError(f"server: {base} answered {r.status_code} ({error_message(r)})")
    try:
        return r.json()
    except ValueError:
        raise TransportError(f"server: {base}/v1/audit/checkpoint: not JSON") from None


class HttpTransport:
    """``PUT {base}/v1/segments/{id}`` with the device token; 201 stored, 200 duplicate."""

    def __init__(self, base_url: str, device_token: str, *, timeout: float = 30.0) -> None:
        self.base_url = check_base_url(base_url)
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {device_token}"},
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
        )
        self._pending: int | None = None

    def set_spool_pending(self, segments: int) -> None:
        """Send ``segments`` (how many wait in the spool) as ``X-Workprint-Spool-Pending`` with the next uploads."""
        self._pending = max(0, int(segments))

    def put_segment(self, segment_id: str, data: bytes) -> UploadResult:
        """Upload one sealed segment; never raises for network or server failures (see ``UploadResult``)."""
        try:
            headers = {"Content-Type": "application/octet-stream"}
            if self._pending is not None:
                headers[SPOOL_PENDING_HEADER] = str(self._pending)
            r = self._client.put(f"/v1/segments/{segment_id}", content=data, headers=headers)
        except httpx.HTTPError as exc:
            return UploadResult.retry(unreachable(self.base_url, exc))
        if r.status_code == 200:
            return UploadResult.duplicate()
        if r.status_code == 201:
            return UploadResult.stored()
        if r.status_code in RETRY_STATUSES or r.status_code >= 500 or r.status_code < 400:
            msg = f"server: {self.base_url} answered {r.status_code} ({error_message(r)})"
            return UploadResult.retry(msg, retry_after(r))
        return UploadResult.rejected(f"server: segment {segment_id[:16]} refused ({error_message(r)})")

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Enrollment:
    """What the server returns for a valid enrolment code."""

    participant_id: str
    device_id: str
    device_token: str
    public_key: str  # base64 of the participant's X25519 public key (32 bytes), as ``DeviceRecord`` stores it
    notice_version: str

    @property
    def public_key_bytes(self) -> bytes:
        """The participant's public key, 32 raw bytes (checked when the answer was parsed)."""
        return base64.b64decode(self.public_key)


def _parse_enrollment(body: Any) -> Enrollment:
    if not isinstance(body, dict):
        raise TransportError("server: enrolment answer is not a JSON object")
    for name in ("participant_id", "device_id", "device_token", "public_key", "notice_version"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise TransportError(f"server: enrolment answer field {name}: expected a string, got {body.get(name)!r}")
    try:
        key = base64.b64decode(body["public_key"], validate=True)
    except (binascii.Error, ValueError):
        raise TransportError(f"server: enrolment answer field public_key: not base64: {body['public_key']!r}") from None
    if len(key) != 32:
        raise TransportError(f"server: enrolment answer field public_key: expected 32 bytes, got {len(key)}")
    return Enrollment(
        body["participant_id"],
        body["device_id"],
        body["device_token"],
        base64.b64encode(key).decode(),
        body["notice_version"],
    )


def enroll(base_url: str, code: str, device_name: str, *, timeout: float = 30.0) -> Enrollment:
    """Exchange an enrolment code for a device token; raises ``TransportError`` with one clear line."""
    base = check_base_url(base_url)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            r = client.post(f"{base}/v1/enroll", json={"code": code, "device_name": device_name})
    except httpx.HTTPError as exc:
        raise TransportError(unreachable(base, exc)) from None
    if r.status_code not in (200, 201):
        raise TransportError(f"server: enrolment refused ({error_message(r)})")
    try:
        body = r.json()
    except ValueError:
        raise TransportError("server: enrolment answer is not JSON") from None
    return _parse_enrollment(body)
