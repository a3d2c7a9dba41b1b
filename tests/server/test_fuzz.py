"""schemathesis against the app's own OpenAPI schema: bounded generated requests per operation, 0 server errors,
every refusal in the one JSON error shape. No account may hold every role (separation of duties), so every
operation runs as each of a participant, an admin (also a researcher), a steward and an auditor, so requests reach
the domain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from server_helpers import FAST_HASHER, admins, claim_account, staff

from workprint.config import ServerSettings
from workprint.server.api import ServerAPI
from workprint.server.app import create_app
from workprint.server.ratelimit import RateLimits
from workprint.store.blobs import LocalBlobStore
from workprint.store.keys import MasterKeyFile
from workprint.store.metadata import MetadataStore

UNLIMITED = RateLimits(device_rate=1e6, device_burst=10**6, account_rate=1e6, account_burst=10**6, login_rate=1e6,
                       login_burst=10**6, login_address_rate=1e6, login_address_burst=10**6, enrol_rate=1e6,
                       enrol_burst=10**6)  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[dict[str, str]]]]:
    home: Path = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{home / 'metadata.db'}"
    store = MetadataStore(url)
    settings_ = ServerSettings(home=home, db_url=url, max_segment_bytes=256 * 1024)
    api = ServerAPI(store, LocalBlobStore(home / "blobs"), MasterKeyFile(home / "master.key"), settings_,
                    password_hasher=FAST_HASHER)  # fmt: skip
    pid = api.create_participant("root")
    e = api.enroll(api.create_enrolment_code(pid), "root-laptop")
    admin, admin2 = admins(api)
    api.identity.request_role(admin, admin.id, "researcher")
    callers = [claim_account(api, e.device_token, "root"), admin, staff(api, admin, admin2, "stew", ["steward"]),
               staff(api, admin, admin2, "audra", ["auditor"])]  # fmt: skip
    app = create_app(api, limits=UNLIMITED)
    yield app, [{"Authorization": f"Bearer {api.identity.create_api_token(who, 'fuzz')}"} for who in callers]
    store.close()


@pytest.fixture(scope="module")
def api_schema(fuzz_target: tuple[Any, list[dict[str, str]]]) -> Any:
    app, _ = fuzz_target
    loaded = schemathesis.openapi.from_dict(app.openapi())
    loaded.app = app
    return loaded


def _fuzz(op: Any, mode: GenerationMode, headers: dict[str, str], problems: list[str]) -> None:
    @given(case=op.as_strategy(generation_mode=mode))
    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        if response.status_code >= 500:
            problems.append(f"{op.label}: {response.status_code} {response.text[:200]}")
        elif response.status_code >= 400:
            body = response.json()
            if set(body) != {"error"} or set(body["error"]) != {"code", "message"}:
                problems.append(f"{op.label}: error shape {response.text[:200]}")

    run()


def test_no_server_errors_and_one_error_shape(api_schema: Any, fuzz_target: tuple[Any, list[dict[str, str]]]) -> None:
    _, callers = fuzz_target
    problems: list[str] = []
    negative_skipped = 0
    operations = [r.ok() for r in api_schema.get_all_operations()]
    assert len(operations) >= 20
    for op in operations:
        for headers in callers:
            _fuzz(op, GenerationMode.POSITIVE, headers, problems)
        try:
            _fuzz(op, GenerationMode.NEGATIVE, callers[1], problems)
        except Unsatisfiable:
            negative_skipped += 1  # nothing in the operation can be made invalid (no parameters, no body)
    assert problems == []
    assert len(operations) - negative_skipped >= 5  # bodies and typed parameters did get invalid input


def test_the_schema_lists_every_route(api_schema: Any, fuzz_target: tuple[Any, list[dict[str, str]]]) -> None:
    app, _ = fuzz_target
    paths = set(api_schema.raw_schema["paths"])
    assert paths == {r.path for r in app.routes}
