"""One world for the portal tests: a real server, two participants recorded by the real agent on Xvfb, accounts for
every role, and Debian's Chromium driven by Playwright (never ``playwright install``)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright
from portal_helpers import CHROMIUM_ARGS, PASSWORD, SCREENSHOTS, World, nav

from account_helpers import admins, claim_account, staff
from clock_helpers import HISTORIC
from workprint.capture.xvfb import VirtualDisplay
from workprint.config import AgentSettings, ServerSettings
from workprint.demo import session
from workprint.device import DeviceRecord
from workprint.models import ALL_SCOPES
from workprint.privacy.state import record_consent
from workprint.server.api import ServerAPI
from workprint.server.serve import build_api, serve_in_thread, stop_server
from workprint.transport import enroll


def _enroll(api: ServerAPI, url: str, home: Path, pid: str) -> tuple[AgentSettings, DeviceRecord]:
    settings = AgentSettings(home=home, upload_interval_s=0.3, segment_max_s=1.0)
    e = enroll(url, api.create_enrolment_code(pid), f"laptop-{home.name}")
    device = DeviceRecord(url, e.participant_id, e.device_id, e.device_token, e.public_key, e.notice_version)
    device.save(settings.device_file)
    record_consent(home, "grant", ALL_SCOPES, time.time_ns())
    return settings, device


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("portal")
    api = build_api(ServerSettings(home=root / "server", clock_tolerance_s=HISTORIC))
    server, thread, url = serve_in_thread(api)
    pids = {who: api.create_participant(who) for who in ("ada", "bob")}
    devices = {who: _enroll(api, url, root / who, pid) for who, pid in pids.items()}
    # Before the agents first sync: each participant claims their account with the code their device receives.
    users = {who: claim_account(api, d.device_token, who, PASSWORD).id for who, (_, d) in devices.items()}
    first, second = admins(api, ("root", "root2"), PASSWORD)
    users.update(root=first.id, root2=second.id)
    for name, role in (("steward1", "steward"), ("steward2", "steward"), ("rita", "researcher"), ("audrey", "auditor")):
        users[name] = staff(api, first, second, name, [role], PASSWORD).id
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with VirtualDisplay() as vd, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        w = World(api, url, vd, browser, devices, users, pids)
        win, procs = session.open_windows(vd.env)
        agents = [w.agent("ada"), w.agent("bob")]  # both record the same scripted input, each for its participant
        try:
            for a in agents:
                a.start()
            time.sleep(0.5)
            session.run_script(vd.env, win)
            time.sleep(0.5)
        finally:
            for a in agents:
                a.stop()
            for proc in procs:
                proc.terminate()
        assert api.metadata.segments(pids["ada"]) and api.metadata.segments(pids["bob"]), "nothing was uploaded"
        try:
            yield w
        finally:
            browser.close()
    stop_server(server, thread)


@pytest.fixture
def page_of(world: World) -> Iterator[Callable[[str], Page]]:
    """Sign in as someone; every context opened is closed after the test."""
    pages: list[Page] = []

    def open_as(username: str) -> Page:
        pages.append(world.login(username))
        return pages[-1]

    yield open_as
    for p in pages:
        p.context.close()


GRANT_PURPOSE = "Check the reducer's click coordinates against the raw events"


@pytest.fixture(scope="package")
def grant_read(world: World) -> tuple[str, str]:
    """steward1 requests a grant on Ada in the browser, steward2 approves it, steward1 reads one segment with it."""
    page = world.login("steward1")
    nav(page, "Grants")
    page.get_by_label(re.compile("Purpose")).fill(GRANT_PURPOSE)
    page.get_by_label(re.compile("Participant ids")).fill(world.pids["ada"])
    page.get_by_label(re.compile("Duration")).fill("30")
    page.get_by_role("button", name="Request grant").click()
    row = page.locator("tr.grant", has_text=GRANT_PURPOSE)
    grant_id = (row.get_attribute("id") or "").removeprefix("grant-")
    page.context.close()
    approver = world.login("steward2")
    approver.goto(f"{world.url}/portal/steward/grants")
    approver.locator(f"#grant-{grant_id}").get_by_role("button", name="Approve").click()
    approver.locator(f"#grant-{grant_id}", has_text="approved by steward2").wait_for()
    approver.context.close()
    reader = world.login("steward1")  # reads through the JSON API with the same session cookie
    segment = world.api.metadata.segments(world.pids["ada"])[0].id
    r = reader.request.get(f"{world.url}/v1/grants/{grant_id}/segments/{segment}")
    assert r.status == 200, r.text()
    reader.context.close()
    return grant_id, GRANT_PURPOSE
