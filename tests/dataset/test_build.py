"""build_dataset turns sealed-then-opened segments into AgentNet JSONL with decodable, deduplicated images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dataset_helpers import Tape, fid, png_bytes, sealed_and_opened
from PIL import Image

from workprint.dataset.build import build_dataset, pseudonym
from workprint.models import Event, FrameEvent
from workprint.segment import Segment

KEY = b"k" * 32


def frames_of(events: list[Event], fmt: str = "WEBP") -> dict[str, bytes]:
    """Real image bytes for every frame the events refer to."""
    ids = [e.frame_id for e in events if isinstance(e, FrameEvent)]
    return {f: png_bytes((i * 37 % 256, 80, 160), fmt) for i, f in enumerate(ids)}


def session_segments(participant: str, session: str, tape: Tape, cut: int) -> list[Segment]:
    """The tape's events split into two segments at ``cut``, each carrying its own frames."""
    parts = [tape.events[:cut], tape.events[cut:]]
    return [sealed_and_opened(participant, session, i, p, frames_of(p)) for i, p in enumerate(parts)]


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def make_tape() -> tuple[Tape, int, int]:
    tape = Tape(app="gedit", title="notes")
    c0, _ = tape.click(453, 100)
    w0 = tape.type("Hello")
    tape.key_down("Control_L")
    tape.key("s")
    tape.key_up("Control_L")
    return tape, c0, w0


def test_build_writes_one_parseable_line_per_episode_with_images_that_decode(tmp_path: Path) -> None:
    tape, c0, w0 = make_tape()
    tape.tick(61_000)  # an idle gap longer than 60 s starts a new episode
    tape.scroll(500, 250, dy=-1)
    segs = session_segments("alice@example.org", "sess-1", tape, cut=len(tape.events) // 2)
    report = build_dataset(segs, tmp_path / "out", key=KEY)

    lines = read_lines(report.jsonl_path)
    assert (report.segments, report.sessions, report.episodes, report.actions) == (2, 1, 2, 4)
    assert report.events == len(tape.events)
    assert len(lines) == 2
    first = lines[0]
    assert first["instruction"] == ""
    assert first["screen"] == [1000, 500]
    assert first["participant"] == pseudonym(KEY, "participant", "alice@example.org")
    assert [s["value"]["code"] for s in first["traj"]] == [
        "pyautogui.click(x=0.453, y=0.2)",
        "pyautogui.write(message='Hello')",
        "pyautogui.hotkey('ctrl', 's')",
    ]
    assert [s["index"] for s in first["traj"]] == [0, 1, 2]
    assert [s["value"]["action"] for s in first["traj"]] == ["click", "write", "hotkey"]
    assert first["traj"][0]["image"] == f"images/{fid(c0)}.webp"
    assert first["traj"][1]["image"] == f"images/{fid(w0)}.webp"
    assert (first["traj"][0]["app"], first["traj"][0]["title"], first["traj"][0]["t_ns"]) == ("gedit", "notes", c0)
    assert lines[1]["traj"][0]["value"]["code"] == "pyautogui.moveTo(x=0.5, y=0.5)\npyautogui.scroll(-1)"
    images = [s["image"] for line in lines for s in line["traj"]]
    for rel in images:
        with Image.open(report.jsonl_path.parent / rel) as im:
            im.load()
            assert im.size == (16, 10)
    # Only frames an action refers to are kept (not those of the 2nd..5th letters); no staging is left behind.
    assert sorted(p.name for p in report.images_dir.iterdir()) == sorted(Path(r).name for r in set(images))
    assert report.frames == len(set(images))
    assert sorted(p.name for p in report.jsonl_path.parent.iterdir()) == ["agentnet.jsonl", "images"]


def test_participant_and_session_ids_are_keyed_pseudonyms_that_change_with_the_key(tmp_path: Path) -> None:
    tape, _, _ = make_tape()
    segs = session_segments("alice@example.org", "sess-1", tape, cut=5)
    a = read_lines(build_dataset(segs, tmp_path / "a", key=KEY).jsonl_path)[0]
    b = read_lines(build_dataset(segs, tmp_path / "b").jsonl_path)[0]
    text = (tmp_path / "a" / "agentnet.jsonl").read_text()
    assert "alice" not in text and "sess-1" not in text
    assert a["participant"] != b["participant"] and a["session"] != b["session"]
    assert a["task_id"] == f"{a['session']}-000"


def test_sessions_and_participants_become_separate_episodes_and_shared_frames_are_written_once(tmp_path: Path) -> None:
    tape1, _, _ = make_tape()
    tape2, _, _ = make_tape()  # same times, hence the same frame ids: one image file each
    segs = [
        *session_segments("alice", "s1", tape1, cut=4),
        *session_segments("bob", "s9", tape2, cut=7),
    ]
    report = build_dataset(segs, tmp_path / "out", key=KEY)
    lines = read_lines(report.jsonl_path)
    assert report.sessions == 2 and report.episodes == 2
    assert lines[0]["participant"] != lines[1]["participant"]
    assert [s["image"] for s in lines[0]["traj"]] == [s["image"] for s in lines[1]["traj"]]
    assert len(list(report.images_dir.iterdir())) == 3


def test_app_switch_starts_a_new_episode_and_jpeg_frames_keep_their_extension(tmp_path: Path) -> None:
    tape = Tape(app="xterm", title="~")
    for e in range(2):
        tape.click(100, 100 + e * 100)
    tape.window("firefox", "Mail", pid=7)
    tape.click(300, 300)
    events = [
        FrameEvent(e.t_ns, e.wall_ns, e.frame_id, 8, 8, "jpeg", e.sha256, e.action_t_ns)
        if isinstance(e, FrameEvent)
        else e
        for e in tape.events
    ]
    seg = sealed_and_opened("p", "s", 0, events, frames_of(events, "JPEG"))
    report = build_dataset([seg], tmp_path / "out", key=KEY)
    lines = read_lines(report.jsonl_path)
    assert [len(line["traj"]) for line in lines] == [2, 1]
    assert lines[1]["traj"][0]["app"] == "firefox"
    assert all(s["image"].endswith(".jpg") for line in lines for s in line["traj"])


def test_steps_whose_frame_is_missing_or_unsafe_get_a_null_image_and_nothing_escapes_out_dir(tmp_path: Path) -> None:
    tape = Tape()
    tape.frames = False
    t0, _ = tape.click(100, 100)
    t1, _ = tape.click(900, 400)
    events: list[Event] = [
        FrameEvent(t0 - 1, 0, "../../escape", 8, 8, "webp", "0" * 64, t0),
        FrameEvent(t1 - 1, 0, "nobytes", 8, 8, "webp", "0" * 64, t1),
        *tape.events,
    ]
    events.sort(key=lambda e: e.t_ns)
    seg = sealed_and_opened("p", "s", 0, events, {"../../escape": png_bytes((1, 2, 3))})
    report = build_dataset([seg], tmp_path / "a" / "out", key=KEY)
    steps = read_lines(report.jsonl_path)[0]["traj"]
    assert [s["image"] for s in steps] == [None, None]
    assert report.missing_frames == 2 and report.frames == 0
    assert not (tmp_path / "escape").exists() and not (tmp_path / "a" / "escape").exists()


def test_no_segments_writes_an_empty_jsonl(tmp_path: Path) -> None:
    report = build_dataset([], tmp_path / "out")
    assert report.jsonl_path.read_text() == ""
    assert (report.segments, report.episodes, report.actions) == (0, 0, 0)


def test_a_session_met_again_after_another_continues_its_episode_numbers(tmp_path: Path) -> None:
    tape, _, _ = make_tape()
    a1, a2 = session_segments("alice", "s1", tape, cut=6)
    b = sealed_and_opened("bob", "s2", 0, tape.events, frames_of(tape.events))
    report = build_dataset([a1, b, a2], tmp_path / "out", key=KEY)
    ids = [line["task_id"] for line in read_lines(report.jsonl_path)]
    assert len(ids) == len(set(ids)) == 3
    assert [line["episode"] for line in read_lines(report.jsonl_path)] == [0, 0, 1]
