"""A participant claims their account in Chromium with the code their device received, signs in, changes the
password and sees every sign-in; a second admin approves a role on the accounts page, the requester cannot."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from portal_helpers import PASSWORD, World, nav

from account_helpers import admins
from workprint.config import ServerSettings
from workprint.server.api import ServerAPI
from workprint.server.serve import build_api, serve_in_thread, stop_server

NEW_PASSWORD = "a brand new portal password"


@dataclass(frozen=True)
class Fresh:
    api: ServerAPI
    url: str


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fresh]:
    """A server of its own, so that the accounts made here change no other test's pages."""
    api = build_api(ServerSettings(home=Path(tmp_path_factory.mktemp("accounts")) / "server"))
    server, thread, url = serve_in_thread(api)
    try:
        yield Fresh(api, url)
    finally:
        stop_server(server, thread)


def _sign_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/portal/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_claim_then_sign_in_then_change_the_password(world: World, fresh: Fresh) -> None:
    pid = fresh.api.create_participant("Cy")
    token = fresh.api.enroll(fresh.api.create_enrolment_code(pid), "cy-laptop").device_token
    got = httpx.get(f"{fresh.url}/portal/device/requests", headers={"Authorization": f"Bearer {token}"}).json()
    code = got["account_claim"]["code"]  # what the device shows in `workprint status`
    page = world.browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        page.goto(f"{fresh.url}/portal/login")
        page.get_by_role("link", name="Claim your account").click()
        page.get_by_label("Claim code").fill(code.lower())  # typed as read, in any case
        page.get_by_label("Username").fill("cy")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Claim account").click()
        page.wait_for_url(re.compile(r"/portal/account\?claimed=1$"))
        expect(page.locator("main")).to_contain_text("Your account is yours")
        expect(page.locator("tr.claim")).to_contain_text("enrolment")
        page.get_by_role("button", name="Sign out").click()
        _sign_in(page, fresh.url, "cy", PASSWORD)
        page.wait_for_url(re.compile(r"/portal/$"))
        nav(page, "My account")
        page.get_by_label("Current password").fill("not the password")
        page.get_by_label("New password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Change password").click()
        expect(page.locator("#old_password-error")).to_have_text("old_password: not this account's password")
        page.get_by_label("Current password").fill(PASSWORD)
        page.get_by_label("New password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Change password").click()
        page.wait_for_url(re.compile(r"/portal/account\?changed=1$"))
        actions = page.locator("tr.sign-in td:nth-child(2)").all_inner_texts()
        assert actions[:4] == ["account.password", "account.password_failure", "login.success", "logout"], actions
        assert "account.claim" in actions
        page.get_by_role("button", name="Sign out").click()
        _sign_in(page, fresh.url, "cy", PASSWORD)
        expect(page.locator("#password-error")).to_be_visible()
        _sign_in(page, fresh.url, "cy", NEW_PASSWORD)
        page.wait_for_url(re.compile(r"/portal/$"))
        page.goto(f"{fresh.url}/portal/claim")  # the code worked once
        page.get_by_label("Claim code").fill(code)
        page.get_by_label("Username").fill("cy2")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Claim account").click()
        expect(page.locator("#code-error")).to_have_text("code: claim code is unknown, expired or already used")
    finally:
        page.context.close()


def test_a_second_admin_approves_a_role_on_the_accounts_page(world: World, fresh: Fresh) -> None:
    admins(fresh.api, ("ann", "abe"), PASSWORD)
    page = world.browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        _sign_in(page, fresh.url, "ann", PASSWORD)
        page.wait_for_url(re.compile(r"/portal/$"))
        page.goto(f"{fresh.url}/portal/admin/accounts")
        expect(page.get_by_label("participant")).to_have_count(0)
        page.get_by_label("Username").fill("stan")
        page.get_by_label(re.compile("Password")).fill(PASSWORD)
        page.get_by_label("steward").check()
        page.get_by_role("button", name="Create account").click()
        approve = page.get_by_role("button", name="Approve steward for stan")
        approve.click()
        expect(page.locator("#grant-error")).to_contain_text("the requester cannot approve their own request")
        page.get_by_role("button", name="Sign out").click()
        _sign_in(page, fresh.url, "abe", PASSWORD)
        page.wait_for_url(re.compile(r"/portal/$"))
        page.goto(f"{fresh.url}/portal/admin/accounts")
        page.get_by_role("button", name="Approve steward for stan").click()
        expect(page.get_by_text("No role awaits approval.")).to_be_visible()
        expect(page.locator("tr", has_text="stan").first).to_contain_text("steward")
    finally:
        page.context.close()
