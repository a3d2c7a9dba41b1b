"""Imported AgentNetTool / DuckTrack recordings reduce to the actions AgentNet itself makes of them, action by action.

Each fixture (``fixtures/<name>/``, sources in ``fixtures/README.md``) holds a recording and ``agentnet.json``: the
actions AgentNetTool's reducer and OpenCUA's DataProcessor make of it (each with the rule that makes it), and the
known differences. The test aligns workprint's actions with AgentNet's and requires: the same action types and
arguments, coordinates within ``TOLERANCE_PX``, and exactly the listed differences (a new one fails, and so does one
that went away, so the README's list stays true).
"""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from workprint.dataset.actions import Action
from workprint.dataset.reduce import reduce_events
from workprint.importers import gate_and_segment, read_recording
from workprint.segment import check_against_header

FIXTURES = Path(__file__).parent / "fixtures"
TOLERANCE_PX = 3
Step = dict[str, Any]


def workprint_steps(root: Path) -> tuple[list[Step], list[Action]]:
    """Import ``root`` through the privacy gate and reduce it; the actions as comparable steps in screen pixels."""
    rec = read_recording(root)
    segments = gate_and_segment(rec, "p1", "s1")
    for s in segments:
        check_against_header(s.header, s.events, s.frames)
    actions = reduce_events([e for s in segments for e in s.events])
    w, h = rec.screen
    steps: list[Step] = []
    for a in actions:
        step: Step = {"kind": a.kind}
        if a.x is not None and a.y is not None:
            step["x"], step["y"] = round(a.x * w), round(a.y * h)
        if a.from_x is not None and a.from_y is not None:
            step["from"] = [round(a.from_x * w), round(a.from_y * h)]
        if a.text:
            step["text"] = a.text
        if a.keys:
            step["keys"] = list(a.keys)
        if a.kind in ("scroll", "hscroll"):
            step["amount"] = int(a.amount)
        if a.modifiers:
            step["modifiers"] = list(a.modifiers)
        steps.append(step)
    return steps, actions


def signature(step: Step) -> tuple[Any, ...]:
    """What must be equal (coordinates are compared with a tolerance instead)."""
    return (step["kind"], step.get("text"), tuple(step.get("keys", ())), step.get("amount"),
            tuple(step.get("modifiers", ())))  # fmt: skip


def close(a: Step, b: Step) -> bool:
    """Both without a point, or both with points at most ``TOLERANCE_PX`` apart on each axis."""
    pa = [a.get("x"), a.get("y"), *a.get("from", [None, None])]
    pb = [b.get("x"), b.get("y"), *b.get("from", [None, None])]
    return all(p == q if p is None or q is None else abs(p - q) <= TOLERANCE_PX for p, q in zip(pa, pb, strict=True))


def differences(theirs: list[Step], ours: list[Step]) -> list[dict[str, list[Step]]]:
    """Where the two action lists differ, aligned by type and arguments, then by coordinates."""
    out: list[dict[str, list[Step]]] = []
    matcher = difflib.SequenceMatcher(None, [signature(s) for s in theirs], [signature(s) for s in ours], False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            out.append({"theirs": theirs[i1:i2], "ours": ours[j1:j2]})
            continue
        out.extend({"theirs": [t], "ours": [o]} for t, o in zip(theirs[i1:i2], ours[j1:j2], strict=True)
                   if not close(t, o))  # fmt: skip
    return out


def expected(name: str) -> tuple[list[Step], list[dict[str, Any]]]:
    data = json.loads((FIXTURES / name / "agentnet.json").read_text(encoding="utf-8"))
    theirs = [{k: v for k, v in step.items() if k != "rule"} for step in data["agentnet"]]
    assert all(step["rule"] for step in data["agentnet"] or data["dropped"])
    return theirs, data["differences"]


@pytest.mark.parametrize("name", ["agentnet_windows_2024", "agentnet_cases", "agentnet_ctrl_click"])
def test_workprint_agrees_with_agentnet_except_for_the_listed_differences(name: str) -> None:
    theirs, listed = expected(name)
    ours, _ = workprint_steps(FIXTURES / name)
    found = differences(theirs, ours)
    assert found == [{"theirs": d["theirs"], "ours": d["ours"]} for d in listed]
    assert all(d["why"] for d in listed)
    agreeing = len(theirs) - sum(len(d["theirs"]) for d in listed)
    assert agreeing >= len(theirs) * 2 // 3  # most actions agree: the differences are exceptions (or all dropped)


def test_the_real_recording_agrees_on_every_click_and_drag_within_the_tolerance() -> None:
    theirs, _ = expected("agentnet_windows_2024")
    ours, _ = workprint_steps(FIXTURES / "agentnet_windows_2024")
    pointer = [s for s in theirs if s["kind"] in ("click", "rightClick", "dragTo")]
    assert len(pointer) == 19
    for step in pointer:
        assert any(signature(o) == signature(step) and close(o, step) for o in ours), step


def test_a_moved_or_retyped_action_is_reported_as_a_difference() -> None:
    theirs, _ = expected("agentnet_cases")
    moved = [dict(s, x=s["x"] + TOLERANCE_PX + 1) if s["kind"] == "doubleClick" else s for s in theirs]
    retyped = [dict(s, kind="click") if s["kind"] == "tripleClick" else s for s in theirs]
    assert differences(moved, theirs) == [{"theirs": [s], "ours": [t]} for s, t in zip(moved, theirs, strict=True)
                                          if s != t]  # fmt: skip
    assert len(differences(retyped, theirs)) == 1


def test_ducktrack_naming_of_ctrl_c_reduces_the_same(tmp_path: Path) -> None:
    """DuckTrack writes pynput's raw character (Ctrl+C is ``'\\x03'`` on Windows), AgentNetTool the letter ``'C'``."""
    root = tmp_path / "ducktrack"
    shutil.copytree(FIXTURES / "agentnet_cases", root)
    lines = (root / "events.jsonl").read_text(encoding="utf-8").splitlines()
    raw = [json.loads(line) for line in lines]
    for e in raw:
        if e.get("name") == "C":
            e["name"] = "\u0003"
    (root / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in raw), encoding="utf-8")
    assert workprint_steps(root)[0] == workprint_steps(FIXTURES / "agentnet_cases")[0]
    assert sum(e.get("name") == "\u0003" for e in raw) == 2
