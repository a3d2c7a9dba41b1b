"""The consent page offers only the scopes the current program requests: a scope outside it is not offered (one
still granted can only be withdrawn), and a posted grant of it is refused with one message naming the scope.

These tests run on a server of their own, with its own published program, so the package's world keeps the notice
its recordings were made under (the test that publishes a program there stays last); they borrow its browser.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from nacl.signing import SigningKey
from playwright.sync_api import expect
from portal_helpers import PASSWORD, World

from account_helpers import claim_account
from workprint.config import ServerSettings
from workprint.models import ALL_SCOPES
from workprint.portal import device_requests
from workprint.privacy.notices import Notice, Program
from workprint.privacy.receipts import make_receipt, sign_receipt
from workprint.server.api import ServerAPI
from workprint.server.consent import consent_of
from workprint.server.serve import build_api, serve_in_thread, stop_server

REQUESTED = ("keys", "mouse")
REFUSED = "scope: 'window_titles' is not requested by the current program (it requests keys, mouse)"


@dataclass(frozen=True)
class ProgramServer:
    api: ServerAPI
    url: str
    pid: str


@pytest.fixture(scope="module")
def program_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProgramServer]:
    """A server whose program requests keys and mouse; Cleo granted keys and, earlier, screenshots under it."""
    api = build_api(ServerSettings(home=Path(tmp_path_factory.mktemp("program")) / "server"))
    server, thread, url = serve_in_thread(api)
    try:
        version = consent_of(api).publish_program("Spreadsheet work", REQUESTED, 90, "We record keys and mouse.")
        pid = api.create_participant("cleo")
        token = api.enroll(api.create_enrolment_code(pid), "cleo-laptop").device_token
        claim_account(api, token, "cleo", PASSWORD)
        device = api.authenticate_device(token)
        # A scope granted under this notice before the program narrowed (devices of an older release did so).
        wide = Program("wide", "Spreadsheet work", ALL_SCOPES, 90, Notice(version, "We record keys and mouse."))
        receipt = make_receipt(wide, "grant", ("keys", "screenshots"), pid, time.time_ns() - 10**9)
        consent_of(api).receive(device, sign_receipt(receipt, SigningKey.generate()).to_dict())
        yield ProgramServer(api, url, pid)
    finally:
        stop_server(server, thread)


def test_the_consent_page_offers_only_the_programs_scopes(world: World, program_server: ProgramServer) -> None:
    page = world.browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        page.goto(f"{program_server.url}/portal/login")
        page.get_by_label("Username").fill("cleo")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/portal/$"))
        page.goto(f"{program_server.url}/portal/me/consent")
        rows = page.locator("tbody tr")
        expect(rows).to_have_count(3)
        expect(page.locator("#scope-keys .status")).to_have_text("granted")
        expect(page.get_by_role("button", name="Withdraw keys")).to_be_visible()
        expect(page.get_by_role("button", name="Grant mouse")).to_be_visible()
        # Granted before the program narrowed: it can be withdrawn, never granted again here.
        expect(page.locator("#scope-screenshots")).to_contain_text("no longer requested by the program")
        expect(page.get_by_role("button", name="Withdraw screenshots")).to_be_visible()
        for scope in ("window_titles", "app_names"):
            expect(page.locator(f"#scope-{scope}")).to_have_count(0)
            expect(page.get_by_role("button", name=f"Grant {scope}")).to_have_count(0)
        page.get_by_role("button", name="Grant mouse").click()
        expect(page.locator("main")).to_contain_text("grant mouse")
        latest = device_requests.pending(program_server.api, program_server.pid)[0]
        assert (latest.kind, latest.scopes) == ("grant", ("mouse",))
    finally:
        page.context.close()


def _signed_in(client: httpx.Client) -> str:
    """Sign Cleo in on ``client``; returns the session's CSRF token."""
    form = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/portal/login").text)
    assert form is not None
    r = client.post("/portal/login", data={"username": "cleo", "password": PASSWORD, "csrf_token": form.group(1)})
    assert r.status_code == 303, r.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/portal/me/consent").text)
    assert found is not None
    return found.group(1)


def test_posting_a_grant_of_a_scope_the_program_does_not_request_is_refused(program_server: ProgramServer) -> None:
    with httpx.Client(base_url=program_server.url, timeout=10) as client:
        csrf = _signed_in(client)
        before = device_requests.pending(program_server.api, program_server.pid)
        r = client.post("/portal/me/consent", data={"csrf_token": csrf, "action": "grant", "scope": "window_titles"})
        assert r.status_code == 400
        shown = html.unescape(r.text)
        assert REFUSED in shown and shown.count("scope:") == 1
        assert device_requests.pending(program_server.api, program_server.pid) == before
        # Withdrawing stays open for every scope, requested or not.
        r = client.post("/portal/me/consent", data={"csrf_token": csrf, "action": "withdraw", "scope": "screenshots"})
        assert r.status_code == 303
        latest = device_requests.pending(program_server.api, program_server.pid)[0]
        assert (latest.kind, latest.scopes) == ("withdraw", ("screenshots",))
