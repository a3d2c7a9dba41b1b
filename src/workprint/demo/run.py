"""``workprint demo``: one command shows the whole path on a private display with the embedded defaults.

Private Xvfb + openbox → collection server (SQLite, local blobs, master key file) in a thread → a participant
enrols a device and consents → the agent records while the scripted session drives a Tk form and an xterm with
real XTEST input → segments are sealed, uploaded, decrypted under an audited read → AgentNet-style dataset.
Accounts are made the supported way: the participant claims theirs with the code their device received; two admins
(the first from the local command, the second approved by it) and two stewards approved by a second admin.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from workprint.agent import Agent
from workprint.capture.xvfb import VirtualDisplay
from workprint.config import AgentSettings, ServerSettings
from workprint.dataset.build import BuildReport, build_dataset
from workprint.demo import session
from workprint.device import DeviceRecord
from workprint.device_claim import CLAIM_FILE
from workprint.models import ALL_SCOPES
from workprint.privacy.consent_sync import ReceiptSync
from workprint.privacy.state import record_consent
from workprint.segment import Segment
from workprint.server.api import ServerAPI
from workprint.server.identity import Principal
from workprint.server.serve import build_api, serve_in_thread, stop_server
from workprint.transport import enroll


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo produced, for the summary and the tests."""

    report: BuildReport
    events: int
    segments_uploaded: int
    expected: list[tuple[str, str]]
    screen: tuple[int, int]


def run_demo(out_dir: Path, console: Console, *, settle_s: float = 0.5) -> DemoResult:
    """Run the whole demo under ``out_dir`` (replaced if it exists) and print a summary."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    home = out_dir / "home"
    agent_home = out_dir / "device"
    settings = AgentSettings(home=agent_home)
    api = build_api(ServerSettings(home=home))
    server, thread, url = serve_in_thread(api)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        console.print(f"server  {url}  (SQLite and blobs under {home / 'server'})")
        participant = api.create_participant("demo participant")
        code = api.create_enrolment_code(participant)
        e = enroll(url, code, "demo-workstation")
        device = DeviceRecord(url, e.participant_id, e.device_id, e.device_token, e.public_key, e.notice_version)
        device.save(settings.device_file)
        record_consent(agent_home, "grant", ALL_SCOPES, time.time_ns())
        console.print(
            f"device  {e.device_id} enrolled for participant {e.participant_id}; consent: all scopes", soft_wrap=True
        )
        with VirtualDisplay() as vd:
            console.print(f"display {vd.display} (Xvfb 1280x800 + openbox)")
            win, procs = session.open_windows(vd.env)
            agent = Agent(settings, device, display=vd.display)
            agent.start()
            try:
                time.sleep(settle_s)
                console.print("driving the Tk form and an xterm with xdotool …")
                session.run_script(vd.env, win)
                time.sleep(settle_s)
            finally:
                agent.stop()
                for p in procs:
                    p.terminate()
            expected = session.expected_actions(win, (vd.width, vd.height))
        _participant_claims(url, agent_home, device, console)
        report = build_dataset(_granted_segments(api, console), out_dir / "dataset")
        result = DemoResult(report, agent.stats.admitted, agent.stats.segments_uploaded, expected, (1280, 800))
        _summary(console, result)
        return result
    finally:
        stop_server(server, thread)


def _participant_claims(url: str, agent_home: Path, device: DeviceRecord, console: Console) -> None:
    """The participant claims their account with the code their device received (``workprint status`` shows it),
    choosing username and password: no admin made or knows them."""
    claim_file = agent_home / CLAIM_FILE
    if not claim_file.exists():  # the agent stopped before its first pull of the portal's requests
        with ReceiptSync(agent_home, device) as sync:
            sync.apply_portal_requests()
    code = json.loads(claim_file.read_text())["code"]
    body = {"code": code, "username": "demo-participant", "password": secrets.token_urlsafe(16)}
    r = httpx.post(f"{url}/v1/claim", json=body, timeout=10)
    r.raise_for_status()
    console.print("account demo-participant: claimed by the participant with the code their device received")


def _granted_segments(api: ServerAPI, console: Console) -> Iterator[Segment]:
    """Raw data leaves the store only under a grant: one steward asks, a second approves, every read is audited."""
    admin = Principal.system("demo", "admin")
    password = secrets.token_urlsafe(16)

    def signed_in(name: str) -> Principal:
        return api.identity.principal_from_session(api.identity.login(name, password).token)

    # Steward roles need a second admin: the first admin of the empty demo store approves the second, who approves
    # the stewards the local command asked for.
    api.identity.add_user(admin, "admin-ada", password, ["admin"])
    second = api.identity.add_user(admin, "admin-abe", password, ["admin"])
    for g in api.identity.duties.role_grants(second.id):
        api.identity.approve_role(signed_in("admin-ada"), g.id)
    for name in ("steward-ana", "steward-ben"):
        for g in api.identity.duties.role_grants(api.identity.add_user(signed_in("admin-abe"), name, password,
                                                                        ["steward"]).id):  # fmt: skip
            api.identity.approve_role(signed_in("admin-ada"), g.id)
    ana, ben = (api.identity.principal_from_session(api.identity.login(n, password).token)
                for n in ("steward-ana", "steward-ben"))  # fmt: skip
    grant = api.access.request_grant(ana, "Build the demo dataset of the scripted session", "program", duration_s=600)
    api.access.approve_grant(ben, grant.id)
    console.print(f"grant   {grant.id}: requested by steward-ana, approved by steward-ben, 10 minutes")
    for rec in api.access.grant_segments(ana, grant.id):
        yield api.access.read_with_grant(ana, grant.id, rec.id)


def _summary(console: Console, r: DemoResult) -> None:
    table = Table(title="workprint demo", show_header=False)
    for name, value in (
        ("events recorded", r.events),
        ("segments uploaded", r.segments_uploaded),
        ("sessions", r.report.sessions),
        ("episodes", r.report.episodes),
        ("actions", r.report.actions),
        ("frames", r.report.frames),
    ):
        table.add_row(name, str(value))
    console.print(table)
    console.print(f"dataset: {r.report.jsonl_path}", soft_wrap=True)
    console.print(f"frames:  {r.report.images_dir}", soft_wrap=True)
    console.print("first actions:")
    for a in r.report.first_actions:
        console.print(f"  {a.to_pyautogui().splitlines()[-1]}", soft_wrap=True, highlight=False)
