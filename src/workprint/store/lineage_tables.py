"""Release lineage in the metadata database: releases, which example came from whom, and purge requests.

Tables live on their own ``MetaData`` (created with ``create_lineage_schema``) beside the server's tables, on the
same SQLite or PostgreSQL database. ``release_examples`` maps every example (episode) of a release version to the
participant, segment, consent receipt and notice version it came from, which is what lets an erasure find and
rebuild every release holding someone's data. The per-release pseudonym key is kept here and never in a release.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine

lineage_metadata = MetaData()
_SEQ = BigInteger().with_variant(Integer(), "sqlite")

releases = Table(
    "releases",
    lineage_metadata,
    Column("release_id", String(100), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("location", Text, nullable=False),
    Column("status", String(20), nullable=False),  # active | purged
    Column("created_at", BigInteger, nullable=False),
    Column("purged_at", BigInteger, nullable=True),
    Column("options", JSON, nullable=False),
    Column("manifest_sha256", String(64), nullable=False),
    Column("pseudonym_key", LargeBinary, nullable=False),
)

release_examples = Table(
    "release_examples",
    lineage_metadata,
    Column("id", _SEQ, primary_key=True, autoincrement=True),
    Column("release_id", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("example_id", String(100), nullable=False),
    Column("participant_id", String(200), nullable=False),
    Column("segment_id", String(64), nullable=False),
    Column("consent_receipt", String(200), nullable=False),
    Column("notice_version", String(64), nullable=False),
    Index("ix_release_examples_participant", "participant_id"),
    Index("ix_release_examples_release", "release_id", "version"),
)

purge_requests = Table(
    "purge_requests",
    lineage_metadata,
    Column("participant_id", String(200), primary_key=True),
    Column("requested_at", BigInteger, nullable=False),
    Column("done_at", BigInteger, nullable=True),
)


@dataclass(frozen=True, slots=True)
class ReleaseRow:
    """One release version as recorded."""

    release_id: str
    version: int
    location: str
    status: str
    created_at: int
    options: dict[str, Any]
    manifest_sha256: str
    pseudonym_key: bytes
    purged_at: int | None = None


@dataclass(frozen=True, slots=True)
class ExampleRow:
    """The lineage of one example: where it came from."""

    example_id: str
    participant_id: str
    segment_id: str
    consent_receipt: str
    notice_version: str


def _release(r: Any) -> ReleaseRow:
    return ReleaseRow(
        r["release_id"], int(r["version"]), r["location"], r["status"], int(r["created_at"]), dict(r["options"]),
        r["manifest_sha256"], bytes(r["pseudonym_key"]), r["purged_at"],
    )  # fmt: skip


class LineageStore:
    """Reads and writes of the lineage tables over an engine (the metadata store's)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(wp_write=True)
        lineage_metadata.create_all(self._writer)

    def next_version(self, release_id: str) -> int:
        """One more than the highest version of ``release_id`` recorded (1 for a new release)."""
        with self.engine.connect() as conn:
            v = conn.execute(select(func.max(releases.c.version)).where(releases.c.release_id == release_id)).scalar()
        return int(v or 0) + 1

    def add_release(self, row: ReleaseRow, examples: Iterable[ExampleRow]) -> None:
        """Record a release version and the lineage of every example, in one transaction."""
        ex = [
            {"release_id": row.release_id, "version": row.version, "example_id": e.example_id,
             "participant_id": e.participant_id, "segment_id": e.segment_id, "consent_receipt": e.consent_receipt,
             "notice_version": e.notice_version}
            for e in examples
        ]  # fmt: skip
        with self._writer.begin() as conn:
            conn.execute(insert(releases).values(
                release_id=row.release_id, version=row.version, location=row.location, status=row.status,
                created_at=row.created_at, purged_at=None, options=row.options,
                manifest_sha256=row.manifest_sha256, pseudonym_key=row.pseudonym_key,
            ))  # fmt: skip
            for i in range(0, len(ex), 1000):
                conn.execute(insert(release_examples), ex[i : i + 1000])

    def release(self, release_id: str, version: int) -> ReleaseRow | None:
        """One release version, or None."""
        q = select(releases).where(releases.c.release_id == release_id, releases.c.version == version)
        with self.engine.connect() as conn:
            r = conn.execute(q).mappings().first()
        return None if r is None else _release(r)

    def releases_of(self, release_id: str | None = None) -> list[ReleaseRow]:
        """Every recorded version (of one release), ordered by release and version."""
        q = select(releases).order_by(releases.c.release_id, releases.c.version)
        if release_id is not None:
            q = q.where(releases.c.release_id == release_id)
        with self.engine.connect() as conn:
            return [_release(r) for r in conn.execute(q).mappings()]

    def active_holding(self, participant_id: str) -> list[ReleaseRow]:
        """Active release versions holding at least one example of ``participant_id``."""
        e, r = release_examples, releases
        held = select(e.c.release_id, e.c.version).where(e.c.participant_id == participant_id).distinct().subquery()
        q = (
            select(r)
            .join(held, and_(held.c.release_id == r.c.release_id, held.c.version == r.c.version))
            .where(r.c.status == "active")
            .order_by(r.c.release_id, r.c.version)
        )
        with self.engine.connect() as conn:
            return [_release(x) for x in conn.execute(q).mappings()]

    def examples(self, release_id: str, version: int) -> list[ExampleRow]:
        """The lineage rows of one release version."""
        e = release_examples
        q = select(e).where(e.c.release_id == release_id, e.c.version == version).order_by(e.c.id)
        with self.engine.connect() as conn:
            return [
                ExampleRow(r["example_id"], r["participant_id"], r["segment_id"], r["consent_receipt"],
                           r["notice_version"])
                for r in conn.execute(q).mappings()
            ]  # fmt: skip

    def mark_purged(self, release_id: str, version: int, now: int) -> None:
        """The version's files are gone: mark it purged and drop its lineage rows (they name participants)."""
        with self._writer.begin() as conn:
            conn.execute(
                update(releases)
                .where(releases.c.release_id == release_id, releases.c.version == version)
                .values(status="purged", purged_at=now)
            )
            conn.execute(
                delete(release_examples).where(
                    release_examples.c.release_id == release_id, release_examples.c.version == version
                )
            )

    def request_purge(self, participant_id: str, now: int) -> None:
        """Record a withdrawal or erasure to be processed by ``purge-pending`` (idempotent)."""
        with self._writer.begin() as conn:
            q = select(purge_requests.c.participant_id).where(purge_requests.c.participant_id == participant_id)
            if conn.execute(q).first() is None:
                conn.execute(insert(purge_requests).values(participant_id=participant_id, requested_at=now))
            else:
                conn.execute(
                    update(purge_requests).where(purge_requests.c.participant_id == participant_id).values(done_at=None)
                )

    def pending_requests(self) -> list[tuple[str, int]]:
        """(participant, requested_at) of purge requests not yet done, oldest first."""
        p = purge_requests
        q = select(p.c.participant_id, p.c.requested_at).where(p.c.done_at.is_(None)).order_by(p.c.requested_at)
        with self.engine.connect() as conn:
            return [(str(a), int(b)) for a, b in conn.execute(q)]

    def mark_done(self, participant_id: str, now: int) -> None:
        """A purge request has been carried out."""
        with self._writer.begin() as conn:
            conn.execute(
                update(purge_requests).where(purge_requests.c.participant_id == participant_id).values(done_at=now)
            )


def create_lineage_schema(engine: Engine) -> None:
    """Create the lineage tables if missing."""
    lineage_metadata.create_all(engine)


__all__ = [
    "ExampleRow",
    "LineageStore",
    "ReleaseRow",
    "create_lineage_schema",
    "lineage_metadata",
    "purge_requests",
    "release_examples",
    "releases",
]
