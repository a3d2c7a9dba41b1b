"""Admission control of ingest: an accepted upload keeps a bounded latency under overload, because a queued upload that
cannot start within its deadline (the latency budget less a slow service time) is refused with 503 at once."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from workprint.config import ServerSettings
from workprint.errors import ConfigError
from workprint.server.overload import IngestGuard, IngestLimits, Pressure, ServiceTime, queue_deadline

PLENTY = 1 << 40
Message = dict[str, object]


class HeldApp:
    """An ingest route that holds its slot until ``release`` is set, then answers 201."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.started += 1
        while (await receive()).get("more_body"):
            pass
        await self.release.wait()
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def run(scenario: Coroutine[Any, Any, None]) -> None:
    """Run ``scenario`` on a fresh event loop in its own thread (a browser test may leave a loop running in ours)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario).result()


async def upload(guard: IngestGuard) -> tuple[int, dict[str, str], float]:
    """One ``PUT /v1/segments/…`` through ``guard``: (status, headers, seconds until the answer started)."""
    scope = {"type": "http", "method": "PUT", "path": "/v1/segments/" + "a" * 64, "headers": []}
    chunks = [b"x" * 1000, b"y" * 1000]

    async def receive() -> Message:
        if chunks:
            return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    answer: dict[str, object] = {}
    t0 = time.monotonic()

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}  # type: ignore[attr-defined]
            answer["at"] = time.monotonic() - t0
        else:
            answer.setdefault("body", message.get("body", b""))

    await guard(scope, receive, send)
    assert not chunks, "a refused upload's body is read before the answer"
    return int(answer["status"]), answer["headers"], float(answer["at"])  # type: ignore[arg-type,return-value]


def guard_for(app: HeldApp, **limits: float) -> IngestGuard:
    return IngestGuard(app, IngestLimits(**limits), lambda: PLENTY, rng=random.Random(7))  # type: ignore[arg-type]


def test_a_queued_upload_that_cannot_start_within_the_budget_is_refused_promptly_not_after_the_queue_timeout() -> None:
    async def scenario() -> None:
        app = HeldApp()
        guard = guard_for(app, max_inflight=1, queue_timeout_s=5.0, latency_budget_s=0.2)
        holder = asyncio.create_task(upload(guard))
        await asyncio.sleep(0.02)
        assert guard.inflight == 1
        status, headers, at = await upload(guard)
        assert status == 503
        assert 0.15 <= at < 0.6, at  # its deadline (0.2 s), not the 5 s queue timeout
        assert headers["retry-after"] in {"2", "3", "4"}
        app.release.set()
        assert (await holder)[0] == 201

    run(scenario())


def test_a_refusal_says_why_in_the_json_error_shape() -> None:
    async def scenario() -> None:
        app = HeldApp()
        guard = guard_for(app, max_inflight=1, latency_budget_s=0.05)
        captured: list[Message] = []
        holder = asyncio.create_task(upload(guard))
        await asyncio.sleep(0.02)
        scope = {"type": "http", "method": "PUT", "path": "/v1/segments/" + "b" * 64, "headers": []}

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            captured.append(message)

        await guard(scope, receive, send)
        error = json.loads(captured[1]["body"])["error"]  # type: ignore[arg-type]
        assert error["code"] == "overloaded"
        assert "cannot start within 50 ms" in error["message"]
        app.release.set()
        await holder

    run(scenario())


def test_when_uploads_are_known_to_be_slow_a_queued_one_is_refused_at_once_without_waiting() -> None:
    async def scenario() -> None:
        app = HeldApp()
        guard = guard_for(app, max_inflight=1, queue_timeout_s=5.0, latency_budget_s=0.25)
        for _ in range(5):
            guard.service.add(0.2)  # each upload holds its slot 200 ms: the next slot is ~200 ms away
        holder = asyncio.create_task(upload(guard))
        await asyncio.sleep(0.02)
        status, _, at = await upload(guard)
        assert status == 503 and at < 0.05, at
        app.release.set()
        await holder

    run(scenario())


def test_a_queued_upload_whose_slot_frees_within_the_deadline_is_accepted() -> None:
    async def scenario() -> None:
        app = HeldApp()
        guard = guard_for(app, max_inflight=1, latency_budget_s=0.5)
        holder = asyncio.create_task(upload(guard))
        await asyncio.sleep(0.02)
        waiter = asyncio.create_task(upload(guard))
        await asyncio.sleep(0.05)
        assert guard.queued == 1
        app.release.set()
        assert (await holder)[0] == 201
        status, _, at = await waiter
        assert status == 201 and at < 0.5
        assert guard.service.samples == 2 and guard.inflight == 0

    run(scenario())


def test_without_a_budget_a_queued_upload_waits_up_to_the_queue_timeout() -> None:
    async def scenario() -> None:
        app = HeldApp()
        guard = guard_for(app, max_inflight=1, queue_timeout_s=0.4, latency_budget_s=0)
        holder = asyncio.create_task(upload(guard))
        await asyncio.sleep(0.02)
        status, _, at = await upload(guard)
        assert status == 503 and 0.35 <= at < 1.0, at
        app.release.set()
        await holder

    run(scenario())


def test_retry_after_spreads_refused_agents_over_one_to_two_times_the_base() -> None:
    guard = guard_for(HeldApp(), retry_after_busy_s=2)
    values = [guard.retry_after_s() for _ in range(300)]
    assert set(values) == {2, 3, 4}


def test_retry_after_stretches_with_refusals_per_acceptance_and_relaxes_as_they_decay() -> None:
    now = [0.0]
    guard = IngestGuard(HeldApp(), IngestLimits(retry_after_busy_s=2, target_refusals=0.25, retry_after_max_s=60),
                        lambda: PLENTY, clock=lambda: now[0], rng=random.Random(1))  # fmt: skip
    for _ in range(40):
        guard.pressure.add(accepted=True)
    for _ in range(40):
        guard.pressure.add(accepted=False)  # one refusal per acceptance: 4 times the target
    assert guard.pressure.ratio() == pytest.approx(1.0)
    assert {guard.retry_after_s() for _ in range(200)} == set(range(8, 17))  # base 2 s x 4, plus up to as much
    for _ in range(4000):
        guard.pressure.add(accepted=False)
    assert max(guard.retry_after_s() for _ in range(200)) <= 120  # the base is capped at retry_after_max_s
    now[0] += 60.0  # twelve half-lives later the refusals are forgotten
    assert guard.retry_after_s() in {2, 3, 4}


def test_a_few_refusals_without_acceptances_do_not_stretch_retry_after() -> None:
    pressure = Pressure(clock=lambda: 0.0)
    for _ in range(4):
        pressure.add(accepted=False)
    assert pressure.ratio() == pytest.approx(0.2)


def test_the_queue_deadline_is_the_budget_less_a_slow_service_time_within_its_bounds() -> None:
    service = ServiceTime()
    limits = IngestLimits(latency_budget_s=0.25, queue_timeout_s=5.0, min_wait_s=0.01)
    assert queue_deadline(limits, service) == 0.25  # nothing measured yet
    for _ in range(50):
        service.add(0.05)
    assert service.mean == pytest.approx(0.05) and service.slow == pytest.approx(0.05, abs=1e-3)
    assert queue_deadline(limits, service) == pytest.approx(0.20, abs=1e-3)
    for _ in range(50):
        service.add(1.0)
    assert queue_deadline(limits, service) == 0.01  # service alone exceeds the budget: refuse almost at once
    assert queue_deadline(IngestLimits(latency_budget_s=0, queue_timeout_s=3.0), service) == 3.0
    assert queue_deadline(IngestLimits(latency_budget_s=9, queue_timeout_s=3.0), ServiceTime()) == 3.0


def test_a_varying_service_time_widens_the_margin() -> None:
    steady, jumpy = ServiceTime(), ServiceTime()
    for n in range(40):
        steady.add(0.05)
        jumpy.add(0.01 if n % 2 else 0.09)
    assert jumpy.mean == pytest.approx(steady.mean, abs=0.01)
    assert jumpy.slow > steady.slow + 0.1


def test_server_settings_read_the_ingest_knobs_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKPRINT_INGEST_MAX_INFLIGHT", "12")
    monkeypatch.setenv("WORKPRINT_INGEST_LATENCY_BUDGET_S", "0.5")
    s = ServerSettings.from_env()
    assert (s.ingest_max_inflight, s.ingest_latency_budget_s) == (12, 0.5)
    monkeypatch.setenv("WORKPRINT_INGEST_LATENCY_BUDGET_S", "-1")
    with pytest.raises(ConfigError, match=r"WORKPRINT_INGEST_LATENCY_BUDGET_S: expected seconds >= 0, got -1.0"):
        ServerSettings.from_env()
    monkeypatch.setenv("WORKPRINT_INGEST_LATENCY_BUDGET_S", "0.5")
    monkeypatch.setenv("WORKPRINT_INGEST_MAX_INFLIGHT", "2.5")
    with pytest.raises(ConfigError, match=r"WORKPRINT_INGEST_MAX_INFLIGHT: expected a whole number >= 1, got 2.5"):
        ServerSettings.from_env()
