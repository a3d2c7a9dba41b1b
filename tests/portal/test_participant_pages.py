"""A participant sees, controls, downloads and deletes what was recorded about them, in Chromium (run in order)."""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import time
import zipfile
from collections.abc import Callable

from playwright.sync_api import Page, expect
from portal_helpers import SCREENSHOTS, World, nav, type_text

from workprint.agent import Agent
from workprint.dataset.reduce import reduce_events
from workprint.models import FrameEvent, KeyEvent
from workprint.privacy.notices import DEFAULT_PROGRAM
from workprint.server.consent import consent_of

ORACLE = "system:portal-test-oracle"  # the test's own audited reads, to compare the pages against the store


def _wait(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _type_and_drain(world: World, agent: Agent, text: str) -> None:
    """Type ``text`` and Return (the redactor holds a value until it ends), and wait until capture delivered it."""
    type_text(world.vd, text)
    mark = time.monotonic_ns()
    subprocess.run(["xdotool", "key", "Return"], env=world.vd.env, check=True, timeout=20)
    _wait(lambda: agent.last_event_t_ns >= mark, f"capture to deliver {text!r}", timeout=30)


def test_the_access_log_lists_the_stewards_read_with_its_purpose_and_a_verified_proof(
    world: World, grant_read: tuple[str, str]
) -> None:
    _, purpose = grant_read
    page = world.login("ada")
    nav(page, "Who accessed my data")
    reads = page.locator("tr.access", has_text=f"user:{world.users['steward1']}").filter(has_text="segment.read")
    expect(reads).to_have_count(1)
    expect(reads).to_contain_text(purpose)
    expect(reads).to_contain_text("steward")
    expect(reads.locator("summary")).to_contain_text("verified")
    expect(page.locator("tr.access", has_text="grant.approve")).to_contain_text(purpose)
    page.screenshot(path=str(SCREENSHOTS / "participant-access-log.png"), full_page=True)
    page.context.close()


def test_timeline_shows_every_action_with_its_redacted_frame_and_plays_as_a_slideshow(world: World) -> None:
    events = [e for s in world.api.iter_segments(ORACLE, world.pids["ada"]) for e in s.events]
    actions = reduce_events(events)
    page = world.login("ada")
    nav(page, "Timeline")
    items = page.locator("li.action")
    expect(items).to_have_count(len(actions))
    with_frames = sum(1 for a in actions if a.frame_id)
    assert with_frames > 5
    expect(page.locator("li.action img[src^='data:image/jpeg']")).to_have_count(with_frames)
    text = page.inner_text("main")
    assert "<NAME>" in text and "Ada Lovelace" not in text, "the typed name must show redacted"
    page.screenshot(path=str(SCREENSHOTS / "participant-timeline.png"), full_page=False)

    page.get_by_role("link", name="Play as a slideshow").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"step 1 of {len(actions)}")
    expect(page.locator("img.frame")).to_be_visible()
    page.wait_for_load_state("load")  # slides.js is loaded
    page.keyboard.press("ArrowRight")  # the static slides.js follows rel=next
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"step 2 of {len(actions)}")
    page.get_by_role("link", name="Next →").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"step 3 of {len(actions)}")
    page.screenshot(path=str(SCREENSHOTS / "participant-slideshow.png"))
    page.context.close()


def test_the_archive_holds_exactly_the_participants_data(world: World) -> None:
    page = world.login("ada")
    page.goto(f"{world.url}/portal/me/data")
    with page.expect_download() as dl:
        page.get_by_role("button", name=re.compile("Download all my data")).click()
    data = open(dl.value.path(), "rb").read()  # noqa: SIM115 - read once
    z = zipfile.ZipFile(io.BytesIO(data))
    names = z.namelist()
    mine = {r.id for r in world.api.metadata.segments(world.pids["ada"])}
    bobs = {r.id for r in world.api.metadata.segments(world.pids["bob"])}
    assert {n.split("/")[1][:-5] for n in names if n.startswith("segments/")} == mine
    stored = list(world.api.iter_segments(ORACLE, world.pids["ada"]))
    frames = {f"frames/{r.id}/" for r in world.api.metadata.segments(world.pids["ada"])}
    n_frames = sum(len(s.frames) for s in stored)
    assert len([n for n in names if n.startswith("frames/")]) == n_frames > 0
    assert all(any(n.startswith(f) for f in frames) for n in names if n.startswith("frames/"))
    blob = b"".join(z.read(n) for n in names if n.endswith(".json"))
    assert not any(b.encode() in blob for b in bobs), "another participant's segment is in the archive"
    assert world.pids["bob"].encode() not in blob and b"Ada Lovelace" not in blob
    assert {"manifest.json", "consent_receipts.json", "devices.json", "accesses.json"} <= set(names)
    page.context.close()


def test_pause_resume_and_withdrawing_screenshots_act_on_the_running_agent(world: World) -> None:
    term = subprocess.Popen(["xterm", "-T", "portal-typing", "-e", "cat"], env=world.vd.env)
    agent = world.agent("ada")
    page = world.login("ada")
    try:
        subprocess.run(["xdotool", "search", "--sync", "--name", "portal-typing", "windowactivate", "--sync"],
                       env=world.vd.env, check=True, timeout=20)  # fmt: skip
        agent.start()
        time.sleep(0.3)
        nav(page, "Recording")
        page.get_by_role("button", name="Pause recording").click()
        expect(page.locator("td").first).to_have_text("pause")  # the request is queued
        _wait(agent.watcher.paused, "the running agent to fetch the request and pause", timeout=20)
        _type_and_drain(world, agent, "pz")
        page.get_by_role("button", name="Resume recording").click()
        expect(page.locator("td").first).to_have_text("resume")
        _wait(lambda: not agent.watcher.paused(), "the agent to resume")
        _type_and_drain(world, agent, "ok")

        def frames_stored() -> bool:
            recs = world.api.metadata.segments(world.pids["ada"])
            return any("screenshots" in r.scopes for r in recs if r.session == agent.session)  # frames declare it

        _wait(frames_stored, "a segment with frames to reach the server")  # a withdrawal purges unsent ones

        nav(page, "Consent")
        page.get_by_role("button", name="Withdraw screenshots").click()
        # The request is listed; a quick agent may have fetched it before the page was rendered.
        listed = re.compile(r"withdraw screenshots — [^—]+ — (waiting for your device|applied by your device)")
        expect(page.locator("main")).to_contain_text(listed)
        withdrawn_at = time.time_ns()
        _wait(lambda: "screenshots" not in agent.watcher.consented(), "the withdrawal to reach the agent")
        _type_and_drain(world, agent, "nf")
    finally:
        agent.stop()
        term.kill()
        term.wait()
    session = agent.session
    segs = [s for s in world.api.iter_segments(ORACLE, world.pids["ada"]) if s.header.session == session]
    events = [e for s in segs for e in s.events]
    typed = "".join(e.text for e in events if isinstance(e, KeyEvent) and e.press)
    assert "ok" in typed and "nf" in typed and "pz" not in typed, typed
    frames = [e for e in events if isinstance(e, FrameEvent)]
    assert frames, "frames were captured before the withdrawal"
    assert all(f.wall_ns < withdrawn_at for f in frames), "a frame was captured after screenshots were withdrawn"
    assert [c.kind for c in events if c.KIND == "control" and c.kind in ("pause", "resume")] == ["pause", "resume"]

    # The withdrawal went through the server's consent path: ledger, erasure request, and the page says so.
    ledger = consent_of(world.api).ledger(world.pids["ada"])
    assert ledger.latest("screenshots", time.time_ns()).action == "withdraw"  # type: ignore[union-attr]
    assert any("screenshots" in r.scopes for r in consent_of(world.api).erasure_requests(world.pids["ada"]))
    page.reload()
    expect(page.locator("#scope-screenshots .status")).to_contain_text("withdrawn")
    expect(page.get_by_role("button", name="Grant screenshots")).to_be_visible()
    expect(page.locator("#scope-keys .status")).to_have_text("granted")
    expect(page.locator("blockquote.notice")).to_contain_text(DEFAULT_PROGRAM.notice.text.strip()[:40])
    page.screenshot(path=str(SCREENSHOTS / "participant-consent.png"), full_page=True)
    nav(page, "Recording")
    expect(page.locator("#last-state")).to_contain_text("recording")
    page.context.close()


def _ada_key_times(world: World) -> list[int]:
    return [e.t_ns for s in world.api.iter_segments(ORACLE, world.pids["ada"]) for e in s.events
            if isinstance(e, KeyEvent)]  # fmt: skip


def test_deleting_one_action_reseals_its_segment_without_it(world: World) -> None:
    page = world.login("ada")
    page.goto(f"{world.url}/portal/me/timeline")
    n = page.locator("li.action").count()
    action = page.locator("li.action", has_text="write").first
    t0 = int(action.locator("input[name=t_start]").get_attribute("value") or "0")
    t1 = int(action.locator("input[name=t_end]").get_attribute("value") or "0")
    before = _ada_key_times(world)
    assert any(t0 <= t <= t1 for t in before)
    action.get_by_role("button", name="Delete this action").click()
    expect(page.locator("li.action")).to_have_count(n - 1)
    after = _ada_key_times(world)
    assert not any(t0 <= t <= t1 for t in after)
    assert after == [t for t in before if not t0 <= t <= t1], "only the action's own events are gone"
    assert any(e.action == "erasure.request" and e.detail.get("participant_id") == world.pids["ada"]
               for e in world.api.audit_log.entries())  # fmt: skip
    page.context.close()


def test_deleting_a_time_range_removes_what_was_recorded_in_it(world: World) -> None:
    latest = max(world.api.metadata.segments(world.pids["ada"]), key=lambda r: r.wall_start_ns)
    session = [r for r in world.api.metadata.segments(world.pids["ada"]) if r.session == latest.session]
    start = dt.datetime.fromtimestamp(min(r.wall_start_ns for r in session) / 1e9 - 1, dt.UTC)
    end = dt.datetime.fromtimestamp(max(r.wall_end_ns for r in session) / 1e9 + 1, dt.UTC)
    page = world.login("ada")
    page.goto(f"{world.url}/portal/me/data")
    page.get_by_label(re.compile("^From")).fill(start.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_label(re.compile("^To")).fill(end.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_role("button", name="Delete this range").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete or download your data")
    left = [s for s in world.api.iter_segments(ORACLE, world.pids["ada"]) if s.header.session == latest.session]
    assert not any(e.wall_ns >= start.timestamp() * 1e9 for s in left for e in s.events)
    others = [s for s in world.api.iter_segments(ORACLE, world.pids["ada"]) if s.header.session != latest.session]
    assert any(s.events for s in others), "data outside the range is kept"
    page.context.close()


def test_deleting_an_episode_removes_it_from_the_store(world: World) -> None:
    page = world.login("ada")
    page.goto(f"{world.url}/portal/me/timeline")
    first = page.locator("section.episode").first
    t0 = int(first.locator("input[name=t_start]").first.get_attribute("value") or "0")
    t1 = int(first.locator("input[name=t_end]").first.get_attribute("value") or "0")
    n_episodes = page.locator("section.episode").count()
    assert any(t0 <= t <= t1 for t in _ada_key_times(world))
    first.get_by_role("button", name=re.compile("Delete episode")).click()
    expect(page.locator("section.episode")).to_have_count(n_episodes - 1)
    assert not any(t0 <= t <= t1 for t in _ada_key_times(world)), "the episode's events are still stored"
    page.context.close()


def test_deleting_everything_needs_confirmation_then_crypto_shreds(
    world: World, page_of: Callable[[str], Page]
) -> None:
    page = page_of("bob")
    page.goto(f"{world.url}/portal/me/data")
    page.get_by_role("button", name="Delete everything").click()
    expect(page.locator("#confirm-error")).to_contain_text("confirm:")
    assert world.api.metadata.segments(world.pids["bob"]), "nothing may change without the confirmation"
    page.get_by_label(re.compile("I understand")).check()
    page.get_by_role("button", name="Delete everything").click()
    expect(page.locator("main")).to_contain_text("0 segment(s) stored")
    assert world.api.participant(world.pids["bob"]).erased
    assert not world.api.metadata.segments(world.pids["bob"])
