"""Who is calling: every route depends on exactly one of the dependencies in ``AUTH_DEPENDENCIES``.

Roles (steward, auditor, admin, participant sessions) will add dependencies here; a test checks that no route is
left without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import Request

from workprint.errors import Unauthorized
from workprint.server.api import ServerAPI
from workprint.store.records import Device

__all__ = ["AUTH_DEPENDENCIES", "Principal", "device_access", "public_access"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: nobody in particular (``public``) or an enrolled device."""

    kind: Literal["public", "device"]
    device: Device | None = None

    @property
    def actor(self) -> str:
        """How the audit log names the caller."""
        return f"device:{self.device.id}" if self.device else "public"


def api_of(request: Request) -> ServerAPI:
    """The domain API the app was created with."""
    api: ServerAPI = request.app.state.api
    return api


def public_access() -> Principal:
    """Routes anyone may call (health, enrolment, which carries its own secret)."""
    return Principal("public")


def device_access(request: Request) -> Principal:
    """``Authorization: Bearer <device token>`` of an enrolled, unrevoked device."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("authorization: expected 'Bearer <device token>'")
    return Principal("device", api_of(request).authenticate_device(token.strip()))


AUTH_DEPENDENCIES = frozenset({public_access, device_access})
