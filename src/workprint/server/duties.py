"""Separation of duties: which roles one account may hold, and who may approve a role or a grant.

Pure rules over accounts and their role grants; ``Identity`` and ``Access`` call them. Steward, auditor and admin
roles are requested by one admin and in force only once a second admin approves, an approver who was neither
created nor promoted by the requester (else one admin could approve its own requests through accounts it made).
"""

from __future__ import annotations

from collections.abc import Iterable

from workprint.store.records import RoleGrant, User

__all__ = ["PRIVILEGED", "conflict", "not_independent"]

PRIVILEGED = frozenset({"steward", "auditor", "admin"})
_APART = (("admin", "steward"), ("admin", "auditor"), ("steward", "auditor"))


def conflict(roles: Iterable[str]) -> str | None:
    """Why one account may not hold ``roles`` (a ``roles: …`` line naming them), or None when it may."""
    have = set(roles)
    for a, b in _APART:
        if a in have and b in have:
            return f"roles: {a} and {b} may not be held by one account, got {', '.join(sorted(have))}"
    return None


def not_independent(approver: User, approver_grants: Iterable[RoleGrant], requester: str) -> str | None:
    """Why ``approver`` may not approve what the audit actor ``requester`` asked for, or None when they may:
    they are the requester, or the requester created them or asked for one of their roles."""
    if f"user:{approver.id}" == requester:
        return "the requester cannot approve their own request"
    if approver.created_by == requester:
        return "the approver's account was created by the requester"
    if any(g.requested_by == requester for g in approver_grants):
        return "the approver was promoted by the requester"
    return None
