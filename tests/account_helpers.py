"""Accounts made the supported way, for tests in any directory: two admins (the first from a local command, the
second approved by it), staff whose privileged roles a second admin approved, participants who claimed their own
account with the code their device received."""

from __future__ import annotations

from workprint.server.api import ServerAPI
from workprint.server.claims import Claims
from workprint.server.identity import Principal

PASSWORD = "correct horse battery"


def signed_in(api: ServerAPI, username: str, password: str = PASSWORD) -> Principal:
    """The principal of a real password sign-in."""
    return api.identity.principal_from_session(api.identity.login(username, password).token)


def admins(
    api: ServerAPI, names: tuple[str, str] = ("admin", "admin2"), password: str = PASSWORD
) -> tuple[Principal, Principal]:
    """Two admins made the supported way on an empty database: the first by a local command (no approval: there is
    nobody to approve), the second requested by that command and approved by the first."""
    root = Principal.system("test", "admin")
    api.identity.add_user(root, names[0], password, ["admin"])
    first = signed_in(api, names[0], password)
    second = api.identity.add_user(root, names[1], password, ["admin"])
    for g in api.identity.duties.role_grants(second.id):
        api.identity.approve_role(first, g.id)
    return first, signed_in(api, names[1], password)


def staff(
    api: ServerAPI, requester: Principal, approver: Principal, name: str, roles: list[str], password: str = PASSWORD
) -> Principal:
    """A staff account requested by one admin and its steward, auditor or admin roles approved by a second."""
    user = api.identity.add_user(requester, name, password, roles)
    for g in api.identity.duties.role_grants(user.id):
        if g.approved_at is None:
            api.identity.approve_role(approver, g.id)
    return signed_in(api, name, password)


def claim_code(api: ServerAPI, device_token: str) -> str:
    """The claim code the device of ``device_token`` receives at its next sync (as ``/portal/device/requests``)."""
    got = Claims(api.identity).for_device(api.authenticate_device(device_token))
    assert got is not None, "no claim code for this device"
    return str(got["code"])


def claim_account(api: ServerAPI, device_token: str, username: str, password: str = PASSWORD) -> Principal:
    """The participant of ``device_token`` claims their account with the code their device receives, as a
    participant does (``workprint status`` shows the code; the portal's claim page takes it)."""
    Claims(api.identity).claim(claim_code(api, device_token), username, password)
    return signed_in(api, username, password)
