"""``workprint import``: a recording becomes consent-checked, sealed segments on the server, and then a release."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from test_ducktrack import recording

from cli_helpers import run
from workprint.config import ServerSettings
from workprint.dataset.release import ReleaseOptions, build_release
from workprint.dataset.source import ServerSource
from workprint.models import ALL_SCOPES
from workprint.privacy.notices import DEFAULT_PROGRAM
from workprint.privacy.receipts import make_receipt, sign_receipt
from workprint.server.consent import consent_of
from workprint.server.serve import build_api


def test_import_ingests_gated_segments_that_build_into_a_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WORKPRINT_DB_URL", raising=False)
    monkeypatch.delenv("WORKPRINT_BLOB_URL", raising=False)
    home = tmp_path / "home"
    api = build_api(ServerSettings(home=home))
    pid = api.create_participant("importer")
    enrol = api.enroll(api.create_enrolment_code(pid), "import-laptop")
    device = api.authenticate_device(enrol.device_token)
    grant = make_receipt(DEFAULT_PROGRAM, "grant", ALL_SCOPES, pid, time.time_ns() - 60 * 10**9)
    consent_of(api).receive(device, sign_receipt(grant, SigningKey.generate()).to_dict())
    rec = recording(tmp_path / "rec", typed="hello")
    (tmp_path / "device-token").write_text(enrol.device_token + "\n")
    code = run(monkeypatch, "import", str(rec), "--device-token-file", str(tmp_path / "device-token"),
               "--server-home", str(home))  # fmt: skip
    assert code == 0, capsys.readouterr()
    assert "in 1 segments (1 new)" in capsys.readouterr().out
    monkeypatch.setenv("WORKPRINT_DEVICE_TOKEN", enrol.device_token)
    assert run(monkeypatch, "import", str(rec), "--server-home", str(home)) == 0
    assert "(0 new)" in capsys.readouterr().out  # importing again stores nothing twice
    source = ServerSource(api.settings, "steward:test", api=api)
    report = build_release(source, tmp_path / "out", "imp", options=ReleaseOptions(k=1))
    eps = [json.loads(x) for x in (tmp_path / "out" / "imp" / "v0001" / "agentnet.jsonl").read_text().splitlines()]
    codes = [s["value"]["code"] for s in eps[0]["traj"]]
    assert codes[:3] == ["pyautogui.click(x=0.1, y=0.1)", "pyautogui.write(message='hello')",
                         "pyautogui.hotkey('ctrl', 'c')"]  # fmt: skip
    assert report.frames > 0


def test_import_refuses_an_unknown_device_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = recording(tmp_path / "rec", video=False)
    code = run(monkeypatch, "import", str(rec), "--device-token", "wpd_nope", "--server-home", str(tmp_path / "h"))
    assert code == 1
    assert " ".join(capsys.readouterr().err.split()) == "error: device token: unknown or revoked"
