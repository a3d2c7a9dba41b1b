"""Invariant 7 on the device: kill -9 of the agent at 32 points — while appending, while rotating the journal,
inside the fsync of a sealed segment, between sealing and deleting the journal, and between the server's
acknowledgement and the spool forgetting the segment. After every kill the agent starts again on the same spool and
carries on by itself; at the end, every event the spool acknowledged is on the server exactly once."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from pathlib import Path

from reliability_helpers import HERE, Device, child_env, stored_event_counts

from workprint.config import ServerSettings

CHILD = str(HERE / "agent_child.py")
# (fault point or "" for a kill at a random moment while appending, how many kills)
PLAN = [("", 12), ("journal.rotate", 5), ("seal.fsync", 5), ("seal.unlink", 5), ("upload.ack", 5)]


def _args(dev: Device, spool: Path, first: int, seed: int, mode: str) -> list[str]:
    return [sys.executable, CHILD, str(spool), dev.url, dev.token, dev.participant, dev.device,
            dev.public_key.hex(), str(first), str(seed), mode]  # fmt: skip


def _run_and_kill(dev: Device, spool: Path, first: int, point: str, rng: random.Random) -> list[int]:
    """Run the agent until it reaches ``point`` (or for a random moment), kill -9 it, return what it acknowledged."""
    env = child_env(WORKPRINT_FAULT_POINTS=f"{point}=5") if point else child_env()
    child = subprocess.Popen(_args(dev, spool, first, rng.randrange(1 << 30), "run"),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)  # fmt: skip
    watchdog = threading.Timer(20, child.kill)  # a point never reached fails the test below, never hangs it
    watchdog.start()
    assert child.stdout is not None
    lines: list[bytes] = []
    try:
        if point:
            for line in child.stdout:
                lines.append(line)
                if line.strip() == f"fault {point}".encode():
                    break
        else:
            lines.append(child.stdout.readline())
            threading.Event().wait(rng.uniform(0.02, 0.4))
        child.kill()
        lines += child.stdout.read().split(b"\n")
        child.wait()
    finally:
        watchdog.cancel()
    assert child.returncode == -9, f"the agent exited by itself ({child.returncode}): {b''.join(lines)[-500:]!r}"
    assert not point or f"fault {point}".encode() in b"\n".join(lines), f"fault point {point} never reached"
    return [int(x) for x in lines if x.strip().isdigit()]


def test_every_event_the_spool_acknowledged_reaches_the_server_exactly_once_across_32_kills(
    tmp_path: Path, live_server: tuple[Device, ServerSettings]
) -> None:
    dev, settings = live_server
    rng = random.Random()
    spool = tmp_path / "spool"
    points = [p for p, n in PLAN for _ in range(n)]
    rng.shuffle(points)
    acknowledged: dict[int, list[int]] = {}
    for run, point in enumerate(points):
        first = run * 100_000
        acknowledged[first] = _run_and_kill(dev, spool, first, point, rng)
        journal = spool / "journal.wpj"
        if run % 4 == 3 and journal.exists():
            with journal.open("ab") as f:  # a record torn half-way, as a crash inside write() could leave it
                f.write(b"\x00\x00\x01\x00\xde\xad" + rng.randbytes(rng.randrange(0, 40)))
    drain = subprocess.run(_args(dev, spool, 10**9, 0, "drain"), env=child_env(), capture_output=True, timeout=60)
    assert drain.returncode == 0, drain.stderr.decode()[-2000:]
    assert (
        not list((spool / "sealed").iterdir())
        and not list(spool.glob("*.wpj"))
        and not list((spool / "rejected").iterdir())
    )

    counts = stored_event_counts(settings)
    duplicates = [t for t, n in counts.items() if n > 1]
    assert duplicates == [], f"{len(duplicates)} events stored twice"
    stored = {t - 1_000_000 for t in counts}
    lost = [i for acks in acknowledged.values() for i in acks if i not in stored]
    assert lost == [], f"{len(lost)} acknowledged events lost, first {lost[:5]}"
    # nothing beyond the one append in flight at each kill
    for first, acks in acknowledged.items():
        run_stored = sorted(i for i in stored if first <= i < first + 100_000)
        assert run_stored == list(range(first, first + len(run_stored)))
        assert len(run_stored) <= len(acks) + 1
    assert sum(len(a) for a in acknowledged.values()) > 32 * 5
