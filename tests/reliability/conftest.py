"""Fixtures for the reliability tests: a real server with one enrolled device."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_helpers import Device, consent_all

from clock_helpers import HISTORIC
from workprint.config import ServerSettings
from workprint.server.serve import build_api, serve_in_thread, stop_server


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[tuple[Device, ServerSettings]]:
    """A real uvicorn (in a thread of the test process) over SQLite, and one enrolled device."""
    settings = ServerSettings(home=tmp_path / "server-home", clock_tolerance_s=HISTORIC)
    api = build_api(settings)
    server, thread, url = serve_in_thread(api)
    try:
        pid = api.create_participant("Ada")
        e = api.enroll(api.create_enrolment_code(pid), "laptop")
        consent_all(api, e.device_token)
        yield Device(url, e.device_token, e.participant_id, e.device_id, e.public_key), settings
    finally:
        stop_server(server, thread)
        api.metadata.close()
