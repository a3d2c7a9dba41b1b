"""``workprint dataset``: one clear line and a non-zero exit for bad options."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import run


def test_build_refuses_an_out_path_that_is_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    code = run(monkeypatch, "dataset", "build", "--release", "r", "--out", str(target))
    assert code == 1
    # The error console wraps at the terminal width; the message is one logical line.
    err = " ".join(capsys.readouterr().err.split())
    assert err == f"error: --out: {str(target)!r} exists and is not a directory"


def test_build_refuses_an_unknown_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(monkeypatch, "dataset", "build", "--release", "r", "--out", str(tmp_path), "--executor", "spark")
    assert code == 1
    assert " ".join(capsys.readouterr().err.split()) == "error: --executor: expected one of local, ray, got 'spark'"


def test_purge_pending_refuses_a_non_positive_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(monkeypatch, "dataset", "purge-pending", "--server-home", str(tmp_path), "--deadline-days", "0")
    assert code == 1
    assert " ".join(capsys.readouterr().err.split()) == "error: --deadline-days: expected a positive number, got 0.0"
