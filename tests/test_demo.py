"""End to end on a real Xvfb: the scripted session becomes exactly the expected actions, each with its frame."""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

from PIL import Image
from rich.console import Console

from workprint.config import ServerSettings
from workprint.dataset.actions import Action
from workprint.dataset.reduce import reduce_events
from workprint.demo.run import run_demo
from workprint.server.serve import build_api


def _as_pair(a: Action, screen: tuple[int, int]) -> tuple[str, str]:
    w, h = screen
    if a.kind in ("click", "doubleClick", "rightClick", "dragTo", "moveTo"):
        assert a.x is not None and a.y is not None
        return a.kind, f"{round(a.x * w)},{round(a.y * h)}"
    if a.kind == "write":
        return a.kind, a.text
    if a.kind in ("press", "hotkey"):
        return a.kind, "+".join(a.keys)
    return a.kind, str(int(a.amount))


def test_demo_records_the_scripted_session_into_the_expected_actions(tmp_path: Path) -> None:
    buf = io.StringIO()
    result = run_demo(tmp_path / "out", Console(file=buf, width=200))

    api = build_api(ServerSettings(home=tmp_path / "out" / "home"))
    events = [e for s in api.iter_segments("steward:test") for e in s.events]
    actions = reduce_events(events)
    assert [_as_pair(a, result.screen) for a in actions] == result.expected

    # Every action of the written dataset has a pre-action frame that exists and decodes.
    lines = [json.loads(line) for line in result.report.jsonl_path.read_text().splitlines()]
    steps = [s for line in lines for s in line["traj"]]
    assert len(steps) == len(result.expected)
    for s in steps:
        assert s["image"], s
        with Image.open(result.report.jsonl_path.parent / s["image"]) as img:
            assert img.size == (1280, 800)
    # The typed name never left the device: not in the dataset's text, and not legible in any of its frames.
    assert "Ada Lovelace" not in result.report.jsonl_path.read_text()
    for image in sorted(result.report.images_dir.iterdir()):
        seen = subprocess.run(["tesseract", str(image), "stdout"], capture_output=True, text=True, check=True).stdout
        assert "lovel" not in re.sub(r"[^a-z]", "", seen.lower()), (image.name, seen)
    assert "<NAME>" in buf.getvalue()
    assert "account demo-participant: claimed by the participant" in buf.getvalue()
    user = api.identity.accounts.user_by_name("demo-participant")
    assert user is not None and user.roles == ("participant",) and user.created_by == "claim"
