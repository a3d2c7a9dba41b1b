"""DuckTrack / AgentNetTool recordings import through the privacy gate and reduce to the actions those tools mean
(test-only dependency: ``av`` for the screen video)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from workprint.dataset.reduce import reduce_events
from workprint.errors import SchemaError
from workprint.importers import gate_and_segment, read_recording
from workprint.models import Event, FrameEvent, KeyEvent
from workprint.segment import check_against_header

T0 = 1000.0  # perf-counter seconds, as the tools record them
COLOURS = [(200, 0, 0), (0, 200, 0), (0, 0, 200), (200, 200, 0)]


def write_video(path: Path, seconds: int = 4) -> None:
    """A 2 fps video whose colour changes every second: frame colour says which second it shows."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=2)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(seconds * 2):
            img = np.zeros((48, 64, 3), dtype=np.uint8)
            img[:, :] = COLOURS[i // 2]
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def key(t: float, name: str) -> list[dict[str, Any]]:
    return [
        {"time_stamp": t, "action": "press", "name": name},
        {"time_stamp": t + 0.02, "action": "release", "name": name},
    ]


def recording(root: Path, typed: str = "hi", video: bool = True) -> Path:
    events: list[dict[str, Any]] = [
        {"time_stamp": T0 + 0.1, "action": "move", "x": 10.5, "y": 10.25},
        {"time_stamp": T0 + 0.2, "action": "move", "x": 99.6, "y": 50.2},
        {"time_stamp": T0 + 0.5, "action": "click", "x": 100.4, "y": 50, "button": "left", "pressed": True},
        {"time_stamp": T0 + 0.6, "action": "click", "x": 100.4, "y": 50, "button": "left", "pressed": False},
    ]
    t = T0 + 1.5
    for ch in typed:
        events += key(t, ch)
        t += 0.05
    events += [
        {"time_stamp": T0 + 2.5, "action": "press", "name": "ctrl_l"},
        {"time_stamp": T0 + 2.55, "action": "press", "name": "\u0003"},
        {"time_stamp": T0 + 2.6, "action": "release", "name": "\u0003"},
        {"time_stamp": T0 + 2.65, "action": "release", "name": "ctrl_l"},
        {"time_stamp": T0 + 3.5, "action": "scroll", "x": 500, "y": 300, "dx": 0, "dy": -2},
    ]
    root.mkdir(parents=True, exist_ok=True)
    (root / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    meta = {"screen_width": 1000, "screen_height": 500, "start_time": "2026-01-05 10:00:00",
            "obs_record_state_timings": {"OBS_WEBSOCKET_OUTPUT_STARTED": [T0]}}  # fmt: skip
    (root / "metadata.json").write_text(json.dumps(meta))
    (root / "top_window.jsonl").write_text(json.dumps({"time_stamp": T0, "top_window_name": "gedit"}) + "\n")
    if video:
        write_video(root / "2026-01-05 10-00-00.mp4")
    return root


def imported(root: Path) -> list[Event]:
    segs = gate_and_segment(read_recording(root), "p1", "s1")
    for s in segs:
        check_against_header(s.header, s.events, s.frames)  # what the server checks when it opens a segment
    return [e for s in segs for e in s.events]


def test_a_recording_reduces_to_the_actions_the_tools_record_with_frames_from_the_video(tmp_path: Path) -> None:
    events = imported(recording(tmp_path / "rec"))
    actions = reduce_events(events)
    assert [a.to_pyautogui() for a in actions] == [
        "pyautogui.click(x=0.1, y=0.1)",
        "pyautogui.write(message='hi')",
        "pyautogui.hotkey('ctrl', 'c')",
        "pyautogui.moveTo(x=0.5, y=0.6)\npyautogui.scroll(-2)",
    ]
    assert {a.app for a in actions} == {"gedit"}
    frames = {e.frame_id: e for e in events if isinstance(e, FrameEvent)}
    assert all(a.frame_id in frames for a in actions)


def test_each_action_gets_the_video_frame_shown_just_before_it(tmp_path: Path) -> None:
    import io

    from PIL import Image

    root = recording(tmp_path / "rec")
    segs = gate_and_segment(read_recording(root), "p1", "s1")
    frames = {k: v for s in segs for k, v in s.frames.items()}
    actions = reduce_events([e for s in segs for e in s.events])
    seconds = [int(a.t_ns / 1e9) for a in actions]  # the click at 0.5 s shows second 0, the scroll second 3
    for a, sec in zip(actions, seconds, strict=True):
        assert a.frame_id is not None
        r, g, b = Image.open(io.BytesIO(frames[a.frame_id])).convert("RGB").getpixel((32, 24))  # type: ignore[misc]
        expected = COLOURS[sec]
        assert max(abs(r - expected[0]), abs(g - expected[1]), abs(b - expected[2])) < 40, (a.kind, sec, (r, g, b))


def test_typed_secrets_are_redacted_by_the_same_gate(tmp_path: Path) -> None:
    events = imported(recording(tmp_path / "rec", typed="mail alice@example.org now ", video=False))
    typed = "".join(e.text for e in events if isinstance(e, KeyEvent))
    assert "alice@example.org" not in typed and "<EMAIL>" in typed
    assert not any(isinstance(e, FrameEvent) for e in events)


def test_without_screenshot_consent_no_frame_is_taken_from_the_video(tmp_path: Path) -> None:
    rec = read_recording(recording(tmp_path / "rec"))
    segs = gate_and_segment(rec, "p1", "s1", scopes=("keys", "mouse", "app_names"))
    assert all(not s.frames and "screenshots" not in s.header.scopes for s in segs)


def test_a_bad_line_is_named(tmp_path: Path) -> None:
    root = recording(tmp_path / "rec", video=False)
    with (root / "events.jsonl").open("a") as f:
        f.write(json.dumps({"time_stamp": "soon", "action": "move"}) + "\n")
    with pytest.raises(SchemaError, match=r"^events.jsonl:\d+: time_stamp: expected a number, got 'soon'$"):
        read_recording(root)
