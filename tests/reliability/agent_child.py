"""Child process for the agent crash tests: an agent without a display, driving Spool + Uploader against a real
server. It prints each event index once ``append`` returned (the spool's acknowledgement), and seals, rotates and
uploads on its own as the agent does, so a kill -9 can land in any of those steps.

argv: spool_dir server_url device_token participant device public_key_hex first_index seed mode
mode ``run`` appends forever; mode ``drain`` only recovers, seals and uploads everything, then exits 0.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from reliability_helpers import WALL0

from workprint.models import FrameEvent, KeyEvent
from workprint.spool import Spool, SpoolIdentity
from workprint.transport import Backoff, HttpTransport, Uploader


def main() -> None:
    spool_dir, url, token, participant, device, public_hex, first, seed, mode = sys.argv[1:10]
    rng = random.Random(int(seed))
    identity = SpoolIdentity(participant, device, f"session-{first}", bytes.fromhex(public_hex), "1", "test")
    spool = Spool.open(Path(spool_dir), identity, max_bytes=rng.choice([6_000, 12_000, 30_000]))
    with HttpTransport(url, token, timeout=10) as transport:
        uploader = Uploader(spool, transport, backoff=Backoff(base_s=0.01, cap_s=0.05))
        if mode == "drain":
            spool.seal()
            deadline = time.monotonic() + 30
            while spool.pending() and time.monotonic() < deadline:
                uploader.run_once()
                time.sleep(0.02)
            sys.exit(0 if not spool.pending() else 1)
        tick_every, upload_every = rng.randint(3, 12), rng.randint(5, 25)
        i = int(first)
        while True:
            t = 1_000_000 + i
            if i % 4 == 0:
                spool.append(FrameEvent(t, WALL0 + t, f"f{i}", 4, 3, "webp", "ab", 0), rng.randbytes(1500))
            else:
                spool.append(KeyEvent(t, WALL0 + t, True, 38, "a", "a"))
            print(i, flush=True)
            i += 1
            if i % tick_every == 0:
                spool.tick()
            if i % upload_every == 0:
                uploader.run_once()


if __name__ == "__main__":
    main()
