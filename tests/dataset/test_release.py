"""build_release: episodes, consent at build time, pseudonyms, k-anonymity, duplicates and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from release_helpers import corpus, frames_for, jsonl, opened, session_tape

from workprint.dataset.release import ReleaseOptions, build_release
from workprint.dataset.session import EpisodeOptions, pseudonym
from workprint.dataset.source import MemorySource, SegmentRef
from workprint.errors import ConfigError, Gone, SchemaError, SegmentError

KEY = b"r" * 32


def episodes_of(out: Path, rid: str = "rel", version: int = 1) -> list[dict[str, object]]:
    return jsonl(out / rid / f"v{version:04d}" / "agentnet.jsonl")


def test_sessions_split_at_markers_and_short_episodes_are_dropped(tmp_path: Path) -> None:
    report = build_release(MemorySource(corpus(3)), tmp_path, "rel", key=KEY, options=ReleaseOptions(k=1))
    eps = episodes_of(tmp_path)
    codes = [[s["value"]["code"] for s in e["traj"]] for e in eps]  # type: ignore[index]
    assert codes[0] == ["pyautogui.click(x=0.1, y=0.24)", "pyautogui.write(message='word0')",
                        "pyautogui.hotkey('ctrl', 's')"]  # fmt: skip
    assert codes[1] == ["pyautogui.click(x=0.3, y=0.4)", "pyautogui.write(message='done')"]
    assert (report.episodes, report.steps, report.sessions, report.segments) == (6, 15, 3, 6)
    strict = ReleaseOptions(EpisodeOptions(min_actions=3), k=1)
    report = build_release(MemorySource(corpus(3)), tmp_path, "rel", key=KEY, options=strict)
    assert report.version == 2
    assert [len(e["traj"]) for e in episodes_of(tmp_path, version=2)] == [3, 3, 3]  # type: ignore[arg-type]


def test_ids_are_keyed_pseudonyms_and_neither_raw_ids_nor_the_key_reach_the_files(tmp_path: Path) -> None:
    build_release(MemorySource(corpus(3)), tmp_path, "rel", key=KEY, options=ReleaseOptions(k=1))
    eps = episodes_of(tmp_path)
    assert eps[0]["participant"] == pseudonym(KEY, "participant", "participant-0")
    assert {e["participant"] for e in eps} == {pseudonym(KEY, "participant", f"participant-{p}") for p in range(3)}
    for f in (tmp_path / "rel").rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert b"participant-" not in data and b"sess-1" not in data and KEY not in data, f


def test_titles_and_apps_shared_by_fewer_than_k_participants_are_generalised(tmp_path: Path) -> None:
    report = build_release(MemorySource(corpus(6)), tmp_path, "rel", key=KEY)  # k = 5
    titles = {(e["participant"], s["title"]) for e in episodes_of(tmp_path) for s in e["traj"]}  # type: ignore[attr-defined]
    loner = pseudonym(KEY, "participant", "participant-5")
    assert {t for p, t in titles if p == loner} == {"<TITLE>"}
    assert {t for p, t in titles if p != loner} == {"notes"}
    assert report.participants == 6
    build_release(MemorySource(corpus(6)), tmp_path, "rel", key=KEY, options=ReleaseOptions(k=7))
    eps = episodes_of(tmp_path, version=2)
    assert {s["title"] for e in eps for s in e["traj"]} == {"<TITLE>"}  # type: ignore[attr-defined]
    assert {s["app"] for e in eps for s in e["traj"]} == {"<APP>"}  # type: ignore[attr-defined]


def test_exact_duplicate_episodes_are_removed(tmp_path: Path) -> None:
    tape = session_tape(0)
    frames = frames_for(tape.events, 1)
    twice = [opened("a", "s1", 0, tape.events, frames), opened("a", "s2", 0, tape.events, frames)]
    report = build_release(MemorySource(twice), tmp_path, "rel", key=KEY, options=ReleaseOptions(k=1))
    assert (report.duplicates, report.episodes) == (2, 2)
    assert len(episodes_of(tmp_path)) == 2


def no_screenshots(participant: str, scope: str, start: int, end: int, notice: str) -> bool:
    return not (participant == "participant-1" and scope == "screenshots")


def withdrawn_p1(participant: str, scope: str, start: int, end: int, notice: str) -> bool:
    return participant != "participant-1"


def test_no_screenshot_consent_means_no_frames_and_withdrawn_means_nothing(tmp_path: Path) -> None:
    build_release(MemorySource(corpus(3)), tmp_path, "rel", key=KEY, options=ReleaseOptions(k=1),
                  consented=no_screenshots)  # fmt: skip
    p1 = pseudonym(KEY, "participant", "participant-1")
    images = {e["participant"]: [s["image"] for s in e["traj"]] for e in episodes_of(tmp_path)}  # type: ignore[attr-defined]
    assert set(images[p1]) == {None}
    assert all(img is not None for p, imgs in images.items() if p != p1 for img in imgs)
    report = build_release(MemorySource(corpus(3)), tmp_path, "rel", key=KEY, options=ReleaseOptions(k=1),
                           consented=withdrawn_p1)  # fmt: skip
    assert p1 not in {e["participant"] for e in episodes_of(tmp_path, version=2)}
    assert report.participants == 2


def test_unreadable_segments_are_skipped_by_name_and_the_rest_is_built(tmp_path: Path) -> None:
    source = MemorySource(corpus(2))
    bad = {
        "c" * 64: SegmentError("segment: truncated"),
        "e" * 64: Gone("segment eee: participant x was erased and their key destroyed; unreadable"),
        "f" * 64: SchemaError("header.schema: unsupported schema version 9"),
    }
    for i, (sid, exc) in enumerate(bad.items()):
        source.add_broken(SegmentRef(sid, "participant-0", "sess-1", 10 + i), exc)
    report = build_release(source, tmp_path, "rel", key=KEY, options=ReleaseOptions(k=1))
    assert not report.ok
    assert {s.segment_id: s.error for s in report.skipped} == {
        "c" * 64: "SegmentError: segment: truncated",
        "e" * 64: "Gone: segment eee: participant x was erased and their key destroyed; unreadable",
        "f" * 64: "SchemaError: header.schema: unsupported schema version 9",
    }
    assert report.episodes == 4


def test_a_release_version_is_immutable_and_options_are_checked(tmp_path: Path) -> None:
    build_release(MemorySource(corpus(1)), tmp_path, "rel", key=KEY, version=1)
    with pytest.raises(ConfigError, match=r"release 'rel' v1: already exists at .* \(immutable\)"):
        build_release(MemorySource(corpus(1)), tmp_path, "rel", key=KEY, version=1)
    with pytest.raises(ConfigError, match=r"^release_id: expected letters, digits, '-', '_' or '.', got '../x'$"):
        build_release(MemorySource(corpus(1)), tmp_path, "../x")
    with pytest.raises(ConfigError, match=r"^k: expected at least 1, got 0$"):
        build_release(MemorySource(corpus(1)), tmp_path, "rel", options=ReleaseOptions(k=0))
    assert not any(p.name.startswith(".staging") for p in (tmp_path / "rel").iterdir())
