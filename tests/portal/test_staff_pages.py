"""Stewards, researchers, auditors and admins in Chromium: each sees only its own pages and does its own work."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect
from portal_helpers import SCREENSHOTS, World, nav

from workprint.portal.web import NAV
from workprint.server.consent import consent_of

StewardPage = Callable[[str], Page]


def test_a_steward_cannot_approve_their_own_grant(world: World, page_of: StewardPage) -> None:
    page = page_of("steward1")
    nav(page, "Grants")
    purpose = "Own grant that only another steward may approve"
    page.get_by_label(re.compile("Purpose")).fill(purpose)
    page.get_by_label("The whole program").check()
    page.get_by_role("button", name="Request grant").click()
    row = page.locator("tr.grant", has_text=purpose)
    expect(row).to_contain_text("waiting for approval")
    expect(row.get_by_role("button", name="Approve")).to_have_count(0)
    expect(row).to_contain_text("another steward must approve")
    grant_id = (row.get_attribute("id") or "").removeprefix("grant-")
    page.screenshot(path=str(SCREENSHOTS / "steward-grants.png"), full_page=True)

    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    r = page.request.post(f"{world.url}/portal/steward/grants/approve", form={"csrf_token": csrf, "grant_id": grant_id})
    assert r.status == 403 and "cannot approve their own grant" in r.text()
    g = world.api.identity.accounts.grant(grant_id)
    assert g is not None and g.approved_at is None


def test_a_bad_grant_request_rerenders_with_the_fields_named_and_the_input_kept(page_of: StewardPage) -> None:
    page = page_of("steward2")
    nav(page, "Grants")
    before = page.locator("tr.grant").count()
    page.get_by_label(re.compile("Purpose")).fill("too short")
    page.get_by_label(re.compile("Participant ids")).fill("")
    page.get_by_label(re.compile("Duration")).fill("ninety")
    page.get_by_role("button", name="Request grant").click()
    expect(page.locator("#purpose-error")).to_have_text("purpose: expected 10 to 2000 characters, got 9")
    expect(page.locator("#minutes-error")).to_contain_text("minutes: expected 1 to 240, got 'ninety'")
    expect(page.locator("#participant_ids-error")).to_contain_text("participant_ids:")
    expect(page.get_by_label(re.compile("Purpose"))).to_have_value("too short")
    expect(page.get_by_label(re.compile("Duration"))).to_have_value("ninety")
    expect(page.get_by_label(re.compile("Purpose"))).to_have_attribute("aria-invalid", "true")
    expect(page.locator("tr.grant")).to_have_count(before)


def test_a_researcher_opening_a_participants_timeline_is_refused(world: World, page_of: StewardPage) -> None:
    page = page_of("rita")
    links = page.get_by_role("navigation", name="Main").get_by_role("link")
    expect(links).to_have_text(["My account"])  # researchers have no other portal page (releases: the API)
    for path in ("/portal/me/timeline", f"/portal/me/timeline/{'a' * 32}/0/0", "/portal/audit"):
        r = page.goto(f"{world.url}{path}")
        assert r is not None and r.status == 403, path
        expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
        expect(page.locator(".problem")).to_contain_text("role")


def test_each_role_sees_exactly_its_own_links(world: World, page_of: StewardPage) -> None:
    for user, role in (("ada", "participant"), ("steward1", "steward"), ("audrey", "auditor"), ("root", "admin")):
        page = page_of(user)
        links = page.get_by_role("navigation", name="Main").get_by_role("link")
        expect(links).to_have_text([label for r, _, label in NAV if r in (role, "")])  # "": every account's
        for r, path, _ in NAV:
            if r not in (role, ""):
                resp = page.goto(f"{world.url}{path}")
                assert resp is not None and resp.status == 403, (user, path)


def test_the_auditor_sees_the_access_the_stewards_grant_produced(
    world: World, grant_read: tuple[str, str], page_of: StewardPage
) -> None:
    grant_id, _ = grant_read
    page = page_of("audrey")
    nav(page, "Audit log")
    page.get_by_label("Search").fill(grant_id)
    page.get_by_label("Action").select_option("segment.read")
    page.get_by_role("button", name="Search").click()
    entries = page.locator("tr.entry")
    expect(entries).to_have_count(1)
    expect(entries).to_contain_text(f"user:{world.users['steward1']}")
    expect(entries).to_contain_text(world.pids["ada"])
    assert "q=" in page.url and world.pids["ada"] not in page.url
    page.get_by_role("button", name="Sign a checkpoint now").click()
    expect(page.locator("#verification")).to_contain_text("entries verify against")
    expect(page.locator("#verification")).to_have_class("ok")
    page.screenshot(path=str(SCREENSHOTS / "auditor-log.png"), full_page=False)


def test_admin_creates_an_account_and_a_bad_one_is_rerendered(world: World, page_of: StewardPage) -> None:
    page = page_of("root")
    nav(page, "Accounts")
    page.get_by_label("Username").fill("Not Valid!")
    page.get_by_label(re.compile("Password")).fill("short")
    page.get_by_label("auditor").check()
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#username-error")).to_contain_text("username: expected 1 to 100 of a-z")
    expect(page.get_by_label("Username")).to_have_value("Not Valid!")
    expect(page.get_by_label("auditor")).to_be_checked()
    assert world.api.identity.accounts.user_by_name("not valid!") is None
    page.get_by_label("Username").fill("audrey2")
    page.get_by_label(re.compile("Password")).fill("a long enough password")
    page.get_by_role("button", name="Create account").click()
    # The auditor role waits for a second admin: root asked, root2 approves.
    expect(page.locator("tr.role-grant", has_text="audrey2")).to_contain_text("auditor")
    page.screenshot(path=str(SCREENSHOTS / "admin-accounts.png"), full_page=True)
    second = page_of("root2")
    nav(second, "Accounts")
    second.get_by_role("button", name="Approve auditor for audrey2").click()
    expect(second.locator("tr", has_text="audrey2").first).to_contain_text("auditor")
    expect(second.locator("tr.role-grant", has_text="audrey2")).to_have_count(0)

    nav(page, "Participants and devices")
    page.locator("tr", has_text=world.pids["ada"]).get_by_role("button", name="New enrolment code").click()
    expect(page.locator("#code")).to_have_text(re.compile(r"^[A-Z2-9]{5}(-[A-Z2-9]{5}){3}$"))
    assert "code" not in page.url.split("/portal/")[-1].replace("admin/codes", "")


def test_a_program_with_a_broken_regex_rerenders_naming_the_rule_with_the_input_kept(
    world: World, page_of: StewardPage
) -> None:
    page = page_of("steward2")
    nav(page, "Programs")
    expect(page.get_by_role("heading", level=1)).to_have_text("Programs and notices")
    expect(page.locator("#default-rules li")).not_to_have_count(0)
    expect(page.get_by_label("keys")).to_be_checked()  # the form starts from the program in force
    page.get_by_label("Purpose").fill("Spreadsheet work only")
    page.get_by_label("screenshots").uncheck()
    page.get_by_label(re.compile("Retention")).fill("ninety")
    page.get_by_label(re.compile("Exclusion rules")).fill("app:Slack\ntitle:payroll (20[0-9]")
    page.get_by_role("button", name="Publish program").click()
    expect(page.locator("#rules-error")).to_contain_text(
        "rules: line 2: exclusion rule (title): invalid regular expression 'payroll (20[0-9]'"
    )
    expect(page.locator("#retention_days-error")).to_have_text("retention_days: expected 1 to 3650, got 'ninety'")
    expect(page.get_by_label(re.compile("Exclusion rules"))).to_have_value("app:Slack\ntitle:payroll (20[0-9]")
    expect(page.get_by_label(re.compile("Exclusion rules"))).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Purpose")).to_have_value("Spreadsheet work only")
    expect(page.get_by_label("screenshots")).not_to_be_checked()
    expect(page.get_by_label("keys")).to_be_checked()
    assert consent_of(world.api).programs() == [] and consent_of(world.api).current_notice() == "1"


def test_a_steward_publishes_a_program_with_a_rule_and_the_participant_reads_its_notice(
    world: World, page_of: StewardPage
) -> None:
    # Runs last in the package: a new notice version ends the consent the recordings above were made under.
    text = "From now on we record keys and mouse in spreadsheets only; Slack and payroll windows are never recorded."
    page = page_of("steward1")
    nav(page, "Programs")
    page.get_by_label("Purpose").fill("Spreadsheet work only")
    for scope in ("screenshots", "window_titles", "app_names"):
        page.get_by_label(scope).uncheck()
    page.get_by_label(re.compile("Retention")).fill("90")
    page.get_by_label("Notice text").fill(text)
    page.get_by_label(re.compile("Exclusion rules")).fill("app:Slack\ntitle:payroll 20\\d\\d\nsite:intranet.example")
    page.get_by_role("button", name="Publish program").click()
    page.wait_for_url(re.compile(r"/portal/steward/programs$"))
    service = consent_of(world.api)
    version = service.current_notice()
    row = page.locator(f"#program-{version}")
    expect(row).to_contain_text("keys, mouse")
    expect(row).to_contain_text("90 days")
    expect(row.locator("code")).to_have_text(["app:Slack", "title:payroll 20\\d\\d", "site:intranet.example"])
    expect(page.locator("#current-version")).to_have_text(version)
    page.screenshot(path=str(SCREENSHOTS / "steward-programs.png"), full_page=True)
    published = service.notice()
    assert published["text"] == text and published["program"]["scopes"] == ["keys", "mouse"]
    assert published["program"]["exclusions"][1] == {"kind": "title", "value": "payroll 20\\d\\d"}

    reader = page_of("ada")
    nav(reader, "Consent")
    expect(reader.get_by_role("heading", name=f"The notice, version {version}")).to_be_visible()
    expect(reader.locator("blockquote.notice")).to_have_text(text)
