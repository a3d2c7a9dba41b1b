"""The participant's account claim code on their own device: received at a sync, shown by ``workprint status``.

No admin sees a participant's claim code: the server mints it when one of the participant's devices fetches its
requests, and the device keeps it here (mode 0600) until it expires. A code that came from an admin's recovery is
shown as such, so the participant learns that their old credentials were revoked.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["CLAIM_FILE", "claim_line", "save_claim"]

CLAIM_FILE = "account-claim.json"


def save_claim(home: Path, claim: dict[str, Any]) -> None:
    """Keep the claim the server sent (code, reason, opened_at, expires_at), replacing any earlier one."""
    path = home / CLAIM_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({k: claim[k] for k in ("code", "reason", "opened_at", "expires_at")}, f)
    os.replace(tmp, path)


def claim_line(home: Path, now: int | None = None) -> str | None:
    """What ``workprint status`` says about the account claim, or None when there is nothing to say."""
    try:
        c = json.loads((home / CLAIM_FILE).read_text())
        code, reason, opened, expires = str(c["code"]), str(c["reason"]), int(c["opened_at"]), int(c["expires_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if expires <= (time.time_ns() if now is None else now):
        return None
    until = time.strftime("%Y-%m-%d %H:%M", time.localtime(expires / 1e9))
    what = "claim your account in the portal"
    if reason == "recovery":
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(opened / 1e9))
        what = f"an admin reset your account on {when} (old password and sessions revoked); claim it again"
    return f"account: {what} with code {code} (until {until})"
