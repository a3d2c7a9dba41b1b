"""Forged CSRF tokens, expired sessions and foreign ids are refused with a clear page and change nothing; every page
carries a CSP without inline scripts or styles, and no URL carries a secret or a name."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from playwright.sync_api import Page, expect
from portal_helpers import PASSWORD, World

from workprint.portal import device_requests
from workprint.portal.pages import CSP

PageOf = Callable[[str], Page]


def test_a_forged_csrf_token_is_refused_and_changes_nothing(world: World, page_of: PageOf) -> None:
    page = page_of("ada")
    before = device_requests.pending(world.api, world.pids["ada"])
    for token in ("forged", ""):
        r = page.request.post(f"{world.url}/portal/me/consent",
                              form={"csrf_token": token, "action": "withdraw", "scope": "keys"})  # fmt: skip
        assert r.status == 403 and "csrf_token: missing or not this session" in r.text()
    # Another session's valid token is just as foreign.
    other = page_of("bob")
    bobs = other.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    r = page.request.post(f"{world.url}/portal/me/consent", form={"csrf_token": bobs, "action": "withdraw",
                                                                  "scope": "keys"})  # fmt: skip
    assert r.status == 403
    assert device_requests.pending(world.api, world.pids["ada"]) == before


def test_an_expired_session_is_refused_and_sent_to_sign_in(world: World) -> None:
    identity = world.api.identity
    ttl = identity.session_ttl_s
    identity.session_ttl_s = 1
    try:
        page = world.login("ada")
    finally:
        identity.session_ttl_s = ttl
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    time.sleep(1.2)
    before = device_requests.pending(world.api, world.pids["ada"])
    r = page.request.post(f"{world.url}/portal/me/recording", form={"csrf_token": csrf, "action": "pause"})
    assert r.status == 401 and "sign in again" in r.text()
    assert device_requests.pending(world.api, world.pids["ada"]) == before
    page.goto(f"{world.url}/portal/me/timeline")
    expect(page).to_have_url(re.compile(r"/portal/login\?expired=1$"))
    expect(page.locator(".note")).to_contain_text("expired")
    page.context.close()


def test_foreign_ids_are_not_found_and_nothing_changes(world: World, page_of: PageOf) -> None:
    page = page_of("ada")
    page.goto(f"{world.url}/portal/me/devices")
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    bob_device = world.devices["bob"][1].device_id
    r = page.request.post(f"{world.url}/portal/me/devices/revoke", form={"csrf_token": csrf, "device_id": bob_device})
    assert r.status == 404 and "not found among your active devices" in r.text()
    assert world.api.authenticate_device(world.devices["bob"][1].device_token).revoked_at is None
    bob_session = world.api.metadata.segments(world.pids["bob"])[0].session
    before = [r.id for r in world.api.metadata.segments(world.pids["bob"])]
    form = {"csrf_token": csrf, "session": bob_session, "what": "episode", "t_start": "0", "t_end": str(2**62)}
    r = page.request.post(f"{world.url}/portal/me/timeline/erase", form=form)
    assert r.status == 404
    assert [r.id for r in world.api.metadata.segments(world.pids["bob"])] == before
    resp = page.goto(f"{world.url}/portal/me/timeline/{bob_session}/0/0")
    assert resp is not None and resp.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.locator("main")).to_contain_text("Nothing was changed.")


def test_malformed_fields_rerender_naming_the_field_and_keeping_the_input(world: World, page_of: PageOf) -> None:
    page = page_of("ada")
    page.goto(f"{world.url}/portal/me/data")
    n = len(world.api.metadata.segments(world.pids["ada"]))
    page.get_by_label(re.compile("^From")).fill("yesterday-ish")
    page.get_by_label(re.compile("^To")).fill("2026-11-27T09:30")
    page.get_by_role("button", name="Delete this range").click()
    expect(page.locator("#start-error")).to_have_text(
        "start: expected a date and time like 2026-11-27T09:30, got 'yesterday-ish'"
    )
    expect(page.get_by_label(re.compile("^From"))).to_have_value("yesterday-ish")
    expect(page.get_by_label(re.compile("^To"))).to_have_value("2026-11-27T09:30")
    assert len(world.api.metadata.segments(world.pids["ada"])) == n

    login = world.browser.new_page()
    login.goto(f"{world.url}/portal/login")
    login.get_by_label("Username").fill("ada")
    login.get_by_role("button", name="Sign in").click()
    expect(login.locator("#password-error")).to_have_text("password: required")
    expect(login.get_by_label("Username")).to_have_value("ada")
    login.close()


def test_pages_are_keyboard_usable_with_a_strict_csp_and_clean_urls(world: World) -> None:
    context = world.browser.new_context()
    page = context.new_page()
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    page.goto(f"{world.url}/portal/login")
    page.keyboard.press("Tab")  # the skip link first, then the form, in order
    page.keyboard.press("Tab")
    page.keyboard.type("ada")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/portal/$"))
    for path in ("/portal/me", "/portal/me/consent", "/portal/me/timeline", "/portal/me/accesses",
                 "/portal/me/devices", "/portal/me/data"):  # fmt: skip
        resp = page.goto(f"{world.url}{path}")
        assert resp is not None and resp.status == 200
        assert resp.headers["content-security-policy"] == CSP
        assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP and "style-src 'self'" in CSP
        html = page.content()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), f"{path}: inline script"
        assert " style=" not in html and "<style" not in html, f"{path}: inline style"
        assert not re.search(r"<[^>]*\son[a-z]+=", html), f"{path}: inline event handler"
        for el in page.locator("input:not([type=hidden]), textarea, select").all():
            el_id = el.get_attribute("id")
            assert el_id and page.locator(f"label[for='{el_id}']").count() == 1, f"{path}: unlabelled field"
    cookie = next(c["value"] for c in context.cookies() if c["name"] == "wp_session")
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    for u in urls:
        assert "?" not in u or u.endswith("?expired=1"), u
        assert cookie not in u and csrf not in u and "ada" not in u.split("/portal/")[-1], u
    context.close()
