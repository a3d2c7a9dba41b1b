"""Settings, read from the environment (``WORKPRINT_*``) with embedded defaults.

One place for every knob; parts receive the settings they need and never read the environment themselves.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from workprint.errors import ConfigError

# How long a participant's account claim code stays valid once their device has received it.
CLAIM_CODE_TTL_S = 7 * 86400


def default_home() -> Path:
    """The data directory: ``$WORKPRINT_HOME`` or ``~/.local/share/workprint``."""
    env = os.environ.get("WORKPRINT_HOME")
    return Path(env) if env else Path.home() / ".local" / "share" / "workprint"


def read_secret(option: str, value: str, file: Path | None) -> str:
    """A secret (token, code) from ``file`` when given (``-``: standard input), else ``value`` (which the CLI takes
    from the option's environment variable): the first line, stripped. Secrets do not belong in a command line,
    where other users' ``ps`` shows them and shells keep them in history. ``ConfigError`` names the file."""
    if file is None:
        return value.strip()
    try:
        text = sys.stdin.readline() if str(file) == "-" else file.read_text().partition("\n")[0]
    except OSError as exc:
        raise ConfigError(f"{option}-file: cannot read {str(file)!r} ({exc.strerror})") from None
    if not text.strip():
        raise ConfigError(f"{option}-file: {str(file)!r} holds no secret (its first line is empty)")
    return text.strip()


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a number, got {raw!r}") from None


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """What the agent on a participant's device needs."""

    home: Path = field(default_factory=default_home)
    motion_hz: float = 20.0
    frame_interval_s: float = 0.5
    # "" (default): the program decides (privacy.notices.FRAME_FORMATS; "auto": JPEG, WebP while the agent has CPU
    # to spare); "jpeg" or "webp" override it. A 1280x800 frame encodes as JPEG in ~3 ms against ~15 ms for WebP,
    # and the redactor encodes it again after OCR.
    frame_format: str = ""
    frame_quality: int = 80
    segment_max_s: float = 60.0
    segment_max_bytes: int = 32 * 1024 * 1024
    upload_interval_s: float = 5.0  # segments seal at most every 60 s; this also paces portal requests
    redact_frames: bool = True  # OCR each pre-action frame and fill personal data and secrets (tesseract)
    idle_pause_min: float = 10.0  # pause automatically after this many idle minutes (0: never)
    spool_max_bytes: int = 2 * 1024**3  # the spool never holds more; capture stops (and says so) at the cap
    upload_max_bytes_per_s: float = 4 * 1024 * 1024  # drain rate after a long offline period (0: unlimited)
    # The frame backlog before redaction: beyond this many frames, or this long a wait, frames are dropped (counted),
    # never keys or clicks; the agent then keeps up on any screen instead of falling further behind.
    frame_queue_max: int = 8
    frame_queue_max_s: float = 5.0

    @property
    def spool_dir(self) -> Path:
        return self.home / "spool"

    @property
    def device_file(self) -> Path:
        return self.home / "device.json"

    @classmethod
    def from_env(cls) -> AgentSettings:
        s = cls(
            motion_hz=_float("WORKPRINT_MOTION_HZ", 20.0),
            frame_interval_s=_float("WORKPRINT_FRAME_INTERVAL", 0.5),
            segment_max_s=_float("WORKPRINT_SEGMENT_MAX_S", 60.0),
            frame_format=os.environ.get("WORKPRINT_FRAME_FORMAT", ""),
            idle_pause_min=_float("WORKPRINT_IDLE_PAUSE_MIN", 10.0),
            redact_frames=os.environ.get("WORKPRINT_REDACT_FRAMES", "1") != "0",
        )
        s.validate()
        return s

    def validate(self) -> None:
        if self.frame_format not in ("", "webp", "jpeg"):
            raise ConfigError(f"frame_format: expected 'webp', 'jpeg' or '' (the program's), got {self.frame_format!r}")
        if not 0 < self.segment_max_s <= 60:
            raise ConfigError(f"segment_max_s: expected 0 < s <= 60, got {self.segment_max_s!r}")
        if self.motion_hz <= 0:
            raise ConfigError(f"motion_hz: expected a positive rate, got {self.motion_hz!r}")


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What the collection server needs. URLs select the backends (SQLite or PostgreSQL; directory or S3)."""

    home: Path = field(default_factory=default_home)
    db_url: str = ""
    blob_url: str = ""
    max_segment_bytes: int = 64 * 1024 * 1024
    min_free_bytes: int = 256 * 1024 * 1024  # below this much free disk, ingest answers 507 (reads go on)
    ingest_max_inflight: int = 8  # segments ingested at once (enough to fill group commits); more wait in a queue
    ingest_max_queue: int = 256  # beyond this many waiting, ingest answers 503 with Retry-After
    ingest_queue_timeout_s: float = 5.0  # a request that waited this long is answered 503 instead
    # p99 budget of an accepted upload: a queued upload that cannot start in time (the budget less the measured time
    # an upload takes once started) is refused with 503 at once instead of waiting; 0 turns the deadline off.
    # 0.2 s for a 250 ms target: the server times an upload from its slot on; the client also waits for the request
    # to be parsed and the answer sent (200 agents flat out: accepted p99 190-230 ms at 0.2, 260-700 ms at 0.25).
    ingest_latency_budget_s: float = 0.2
    access_log: bool = False  # one log line per request (uvicorn's access log); errors are logged either way
    checkpoint_interval_s: float = 300.0  # the checkpointing replica signs a tree head this often, if the log grew
    # Who signs audit checkpoints: "file" (audit-signing.key beside the database) or "vault" (a Transit key named
    # ``vault_audit_key`` in the Vault of WORKPRINT_VAULT_ADDR / WORKPRINT_VAULT_TOKEN, which never leaves it).
    audit_signer: str = "file"
    # How far a device's clock may be off the server's: consent takes effect at most this long before it reached the
    # server, and a segment may end at most this far ahead of the server's clock. Raising it lets a device that lies
    # about time backdate consent by as much.
    clock_tolerance_s: float = 300.0
    vault_audit_key: str = "workprint-audit"

    @property
    def server_dir(self) -> Path:
        return self.home / "server"

    def resolved_db_url(self) -> str:
        return self.db_url or f"sqlite:///{self.server_dir / 'workprint.db'}"

    def resolved_blob_url(self) -> str:
        return self.blob_url or str(self.server_dir / "blobs")

    @classmethod
    def from_env(cls) -> ServerSettings:
        base = cls()
        inflight = _float("WORKPRINT_INGEST_MAX_INFLIGHT", base.ingest_max_inflight)
        if inflight < 1 or inflight != int(inflight):
            raise ConfigError(f"WORKPRINT_INGEST_MAX_INFLIGHT: expected a whole number >= 1, got {inflight!r}")
        budget = _float("WORKPRINT_INGEST_LATENCY_BUDGET_S", base.ingest_latency_budget_s)
        if budget < 0:
            raise ConfigError(f"WORKPRINT_INGEST_LATENCY_BUDGET_S: expected seconds >= 0, got {budget!r}")
        return cls(
            db_url=os.environ.get("WORKPRINT_DB_URL", ""),
            blob_url=os.environ.get("WORKPRINT_BLOB_URL", ""),
            ingest_max_inflight=int(inflight),
            ingest_latency_budget_s=budget,
            access_log=os.environ.get("WORKPRINT_ACCESS_LOG", "0") not in ("", "0"),
            checkpoint_interval_s=_checkpoint_interval(),
            audit_signer=_audit_signer(),
            clock_tolerance_s=_clock_tolerance(),
            vault_audit_key=os.environ.get("WORKPRINT_VAULT_AUDIT_KEY", "") or base.vault_audit_key,
        )


def _clock_tolerance() -> float:
    tolerance = _float("WORKPRINT_CLOCK_TOLERANCE_S", 300.0)
    if not 0 <= tolerance <= 10 * 366 * 86400:  # a bound that catches milliseconds given for seconds
        raise ConfigError(f"WORKPRINT_CLOCK_TOLERANCE_S: expected seconds in [0, 316224000], got {tolerance!r}")
    return tolerance


def _audit_signer() -> str:
    signer = os.environ.get("WORKPRINT_AUDIT_SIGNER", "") or "file"
    if signer not in ("file", "vault"):
        raise ConfigError(f"WORKPRINT_AUDIT_SIGNER: expected 'file' or 'vault', got {signer!r}")
    return signer


def _checkpoint_interval() -> float:
    interval = _float("WORKPRINT_CHECKPOINT_INTERVAL_S", 300.0)
    if not 0 < interval <= 86400:
        raise ConfigError(f"WORKPRINT_CHECKPOINT_INTERVAL_S: expected seconds in (0, 86400], got {interval!r}")
    return interval
