"""``workprint dataset build``: a summary of what was built, and one clear line for a bad --out."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from dataset_helpers import Tape, sealed_and_opened

from workprint.cli import dataset_cmds
from workprint.cli.main import main
from workprint.segment import Segment


def run(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["workprint", *args])
    try:
        main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_build_prints_counts_paths_and_first_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tape = Tape()
    tape.click(250, 250)
    tape.type("hi")
    seg = sealed_and_opened("p", "s", 0, tape.events, {})
    seen: list[Path | None] = []

    def fake_source(home: Path | None) -> Iterable[Segment]:
        seen.append(home)
        return [seg]

    monkeypatch.setattr(dataset_cmds, "open_segments", fake_source)
    code = run(monkeypatch, "dataset", "build", "--out", str(tmp_path / "ds"), "--server-home", str(tmp_path))
    out = capsys.readouterr().out
    assert code == 0
    assert seen == [tmp_path]
    assert "actions" in out and "episodes" in out
    assert f"jsonl:  {tmp_path / 'ds' / 'agentnet.jsonl'}" in out.splitlines()
    assert "pyautogui.click(x=0.25, y=0.5)" in out and "pyautogui.write(message='hi')" in out
    assert (tmp_path / "ds" / "agentnet.jsonl").read_text().count("\n") == 1


def test_build_refuses_an_out_path_that_is_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    code = run(monkeypatch, "dataset", "build", "--out", str(target))
    assert code == 1
    # The error console wraps at the terminal width; the message is one logical line.
    err = " ".join(capsys.readouterr().err.split())
    assert err == f"error: --out: {str(target)!r} exists and is not a directory"
