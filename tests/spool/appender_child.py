"""Child process for the kill -9 test: appends events forever, printing each index once ``append`` returned."""

from __future__ import annotations

import sys
from pathlib import Path

from spool_helpers import frame, key, make_identity

from workprint.spool import Spool


def main() -> None:
    directory, public_hex, max_bytes = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    spool = Spool.open(directory, make_identity(bytes.fromhex(public_hex)), max_bytes=max_bytes)
    i = 0
    while True:
        if i % 3 == 0:
            spool.append(frame(i), bytes([i % 251]) * 3000)
        else:
            spool.append(key(i))
        print(i, flush=True)
        if i % 7 == 0:
            spool.tick()  # seals rotated journals, so kills also land while sealing
        i += 1


if __name__ == "__main__":
    main()
