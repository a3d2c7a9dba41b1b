"""Fixtures for the server tests: a ``ServerAPI`` over each metadata backend, its app and an enrolled device."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from server_helpers import MAX_SEGMENT

from workprint.config import ServerSettings
from workprint.server.api import Enrollment, ServerAPI
from workprint.server.app import create_app
from workprint.store.blobs import LocalBlobStore
from workprint.store.keys import MasterKeyFile
from workprint.store.metadata import MetadataStore


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[ServerAPI]:
    settings = ServerSettings(home=tmp_path, db_url=db_url, max_segment_bytes=MAX_SEGMENT)
    store = MetadataStore(db_url)
    api = ServerAPI(store, LocalBlobStore(tmp_path / "blobs"), MasterKeyFile(tmp_path / "master.key"), settings)
    yield api
    store.close()


@pytest.fixture
def client(api: ServerAPI) -> Iterator[TestClient]:
    with TestClient(create_app(api)) as c:
        yield c


@pytest.fixture
def enrolled(api: ServerAPI) -> Enrollment:
    pid = api.create_participant("Ada")
    return api.enroll(api.create_enrolment_code(pid), "laptop")
