"""Send the device's consent receipts to its collection server and keep the server's countersigned copies.

Every receipt is made and signed on the device (``state.record_consent``), so consent and withdrawal act at once
and offline. ``ReceiptSync.run`` then posts each receipt the server has not countersigned yet (``POST /v1/consents``
with the device token), verifies the answer under the server's consent key (trusted on first use and kept in
``$WORKPRINT_HOME/consent_server_key``) and swaps the device's copy for the countersigned one. The agent runs it
before every segment upload: the server refuses segments whose consent it has not seen. ``fetch_notice`` adopts
the server's current notice and program (purpose, scopes, retention, organisation exclusion rules), so a new notice
version stops capture until the participant consents again and the steward's rules exclude windows on the device.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import httpx
import nacl.signing

from workprint.device import DeviceRecord
from workprint.device_claim import save_claim
from workprint.errors import ConfigError, ConsentError
from workprint.models import Scope
from workprint.privacy.exclusions import rule_from_dict
from workprint.privacy.notices import Notice, Program
from workprint.privacy.receipts import ConsentReceipt, verify_receipt_dict
from workprint.privacy.state import (
    SERVER_KEY_FILE,
    DeviceState,
    load_state,
    record_consent,
    server_verify_key,
    signing_key,
    update_state,
)
from workprint.transport.http import unreachable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What one round did: receipts countersigned, refused for good (4xx), and why it stopped early (if it did)."""

    sent: int = 0
    refused: tuple[str, ...] = ()
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when every receipt the server can take is countersigned (segments may go now)."""
        return not self.error


def pending(state: DeviceState, home: Path) -> list[ConsentReceipt]:
    """Receipts still signed by the device only (not countersigned yet), in decision order."""
    own = base64.b64encode(bytes(signing_key(home).verify_key)).decode()
    return [r for r in state.receipts if r.public_key == own]


def _error_text(r: httpx.Response) -> str:
    try:
        err = r.json()["error"]
        return f"{err['code']}: {err['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {r.status_code}"


class ReceiptSync:
    """Posts pending receipts to the device's server. Receipts refused with a 4xx are not retried by this object."""

    def __init__(self, home: Path, device: DeviceRecord, *, timeout: float = 10.0) -> None:
        self.home = home
        self.device = device
        self._client = httpx.Client(
            base_url=device.server_url.rstrip("/"),
            headers={"Authorization": f"Bearer {device.device_token}"},
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,  # the device talks to its configured server and nothing else
        )
        self._refused: set[str] = set()

    def apply_portal_requests(self) -> list[str]:
        """Fetch this device's requests from the portal and apply them to its state file; returns the kinds applied.

        The agent's ``StateWatcher`` sees the change as if the participant had used the indicator or ``workprint
        consent``; receipts leave with the next upload round.
        """
        r = self._client.get("/portal/device/requests")
        r.raise_for_status()
        done = []
        if r.json().get("account_claim"):  # shown to the participant by ``workprint status``
            save_claim(self.home, r.json()["account_claim"])
            done.append("account_claim")
        for req in r.json()["requests"]:
            kind, scopes = req["kind"], tuple(cast(Scope, s) for s in req["scopes"])
            now = time.time_ns()
            if kind in ("grant", "withdraw"):
                record_consent(self.home, kind, scopes, now)
            elif kind == "pause":
                update_state(self.home, _pause_at(now))
            elif kind == "resume":
                update_state(self.home, lambda s: s.resumed())
            done.append(kind)
        return done

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def run(self) -> SyncResult:
        """Send what is pending, oldest first; stops at the first transient failure (offline, 5xx)."""
        try:
            todo = [r for r in pending(load_state(self.home), self.home) if r.receipt_id not in self._refused]
        except ConsentError as exc:
            return SyncResult(error=str(exc))
        except Exception as exc:  # a broken state file: the watcher already fails closed; nothing to send
            return SyncResult(error=f"privacy state: {exc}")
        sent, refused = 0, list[str]()
        for receipt in todo:
            try:
                r = self._client.post("/v1/consents", json=receipt.to_dict())
            except httpx.HTTPError as exc:
                return SyncResult(sent, tuple(refused), unreachable(self.device.server_url.rstrip("/"), exc))
            if r.status_code in (200, 201):
                try:
                    self._store(r.json())
                except (ConsentError, ValueError, KeyError, TypeError) as exc:
                    return SyncResult(sent, tuple(refused), f"server: bad consent answer ({exc})")
                sent += 1
            elif 400 <= r.status_code < 500 and r.status_code not in (401, 408, 429):
                self._refused.add(receipt.receipt_id)
                refused.append(f"receipt {receipt.receipt_id}: {_error_text(r)}")
                log.warning("consent receipt refused by the server: %s", refused[-1])
            else:
                return SyncResult(sent, tuple(refused), f"server: answered {r.status_code} ({_error_text(r)})")
        return SyncResult(sent, tuple(refused))

    def fetch_notice(self) -> str:
        """Adopt the server's current notice and program (``GET /v1/notice``) when they differ from the device's.

        Consent given under an old notice version then stops counting at once, and capture of its scopes stops until
        the participant reads the new notice and consents again; the program's organisation exclusion rules apply
        from the next window change (``DeviceState.exclusion_rules``). A program with a broken rule is not adopted.
        Returns "" or why the notice could not be fetched or adopted.
        """
        try:
            r = self._client.get("/v1/notice")
        except httpx.HTTPError as exc:
            return unreachable(self.device.server_url.rstrip("/"), exc)
        if r.status_code != 200:
            return f"server: notice: answered {r.status_code} ({_error_text(r)})"
        try:
            body = r.json()
            notice = Notice(str(body["version"]), str(body["text"]))
            published = body.get("program")
        except (ValueError, KeyError, TypeError, AttributeError, ConfigError) as exc:
            return f"server: notice: malformed answer ({exc})"

        def adopt(state: DeviceState) -> DeviceState:
            return replace(state, program=adopted_program(state.program, notice, published))

        try:
            current = load_state(self.home).program
            if adopted_program(current, notice, published) != current:
                update_state(self.home, adopt)
        except (ConfigError, ConsentError) as exc:  # a broken rule or scope: keep the program the device has
            return f"server: notice: malformed program ({exc})"
        return ""

    def _store(self, body: dict[str, Any]) -> None:
        key_b64 = str(body["server_key"])
        try:
            key = nacl.signing.VerifyKey(base64.b64decode(key_b64, validate=True))
        except (binascii.Error, ValueError):
            raise ConsentError(f"server_key: not a base64 Ed25519 key ({key_b64[:60]!r})") from None
        known = server_verify_key(self.home)
        if known is not None and bytes(known) != bytes(key):
            raise ConsentError("server_key: differs from the consent key this device already trusts")
        signed = verify_receipt_dict(body["receipt"], key)
        if known is None:
            _save_server_key(self.home, key_b64)

        def swap(state: DeviceState) -> DeviceState:
            mine = next((r for r in state.receipts if r.receipt_id == signed.receipt_id), None)
            if mine is None or replace(mine, public_key="", signature="") != replace(
                signed, public_key="", signature=""
            ):
                raise ConsentError(f"receipt {signed.receipt_id}: the server countersigned other content")
            return replace(state, receipts=tuple(signed if r is mine else r for r in state.receipts))

        update_state(self.home, swap)

    def __enter__(self) -> ReceiptSync:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def adopted_program(current: Program, notice: Notice, published: object) -> Program:
    """``current`` under ``notice`` and, when the server sent one, its program's purpose, scopes, retention and rules.

    Every organisation rule is validated (``ConfigError`` naming it) so that a state file never holds a rule the
    device cannot apply. A server that sends no program (older servers) changes only the notice.
    """
    if published is None:
        return replace(current, notice=notice)
    if not isinstance(published, dict):
        raise ConfigError(f"program: expected a JSON object, got {type(published).__name__}")
    rules = published.get("exclusions", [])
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise ConfigError(f"program.exclusions: expected a list of rule objects, got {rules!r}"[:200])
    for r in rules:
        rule_from_dict(r, "org")
    merged = {
        **current.to_dict(),
        **{k: published[k] for k in ("purpose", "scopes", "retention_days", "frame_format") if k in published},
    }
    merged["notice"] = {"version": notice.version, "text": notice.text}
    merged["exclusions"] = rules
    return Program.from_dict(merged)


def _save_server_key(home: Path, key_b64: str) -> None:
    path = home / SERVER_KEY_FILE
    tmp = path.with_name(f".{SERVER_KEY_FILE}.tmp")
    tmp.write_text(key_b64 + "\n")
    tmp.replace(path)


def sync_now(home: Path, *, timeout: float = 5.0) -> SyncResult | None:
    """Send pending receipts once if this device is enrolled (None when it is not); never raises for the network."""
    try:
        device = DeviceRecord.load(home / "device.json")
    except Exception:
        return None
    with ReceiptSync(home, device, timeout=timeout) as sync:
        return sync.run()


__all__ = ["ReceiptSync", "SyncResult", "adopted_program", "pending", "sync_now"]


def _pause_at(now: int) -> Callable[[DeviceState], DeviceState]:
    def change(s: DeviceState) -> DeviceState:
        return s if s.pause.active(now) else s.paused_for(now, None)

    return change
