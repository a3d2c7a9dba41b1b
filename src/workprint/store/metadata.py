"""The metadata store: participants, devices, enrolment codes, segment manifests and the audit log.

One class over SQLAlchemy Core for SQLite (the embedded default) and PostgreSQL, selected by URL. Every change goes
through ``write``, the one write path: a single transaction (``BEGIN IMMEDIATE`` on SQLite so concurrent writers
queue instead of failing half-way), where audit entries are appended together with the change they describe.
SQLite runs in WAL mode with foreign keys on and ``synchronous=FULL``, so a committed row survives power loss.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, delete, event, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, RowMapping, make_url
from sqlalchemy.exc import ArgumentError

from workprint.errors import ConfigError
from workprint.store import tables as t
from workprint.store.coordination import AUDIT, KEYS, Lease, try_lease, xact_lock
from workprint.store.group_commit import GroupCommit
from workprint.store.records import AuditEntry, AuditEvent, Device, Participant, SegmentRecord

T = TypeVar("T")

__all__ = ["CANARY", "CANARY_ID", "MetadataStore"]

# A value wrapped by the key store when the database was set up: a replica whose key store cannot open it is pointed
# at another key store, and refuses to start. It is wrapped as if for a participant with this id.
CANARY, CANARY_ID = "key_store_canary", "workprint-key-canary"

_SEGMENT_COLUMNS = tuple(n for n in SegmentRecord.__dataclass_fields__ if n not in ("scopes", "counts"))


def _engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"db_url: not a database URL: {url!r}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        pool: dict[str, Any] = {}
        if parsed.database and parsed.database != ":memory:":
            # Room for every thread of the server's pool: a connection beyond the pool is closed when returned, so
            # the next one reconnects and runs the pragmas again (a per-request cost under load).
            pool = {"pool_size": 20, "max_overflow": 20}
        engine = create_engine(parsed, connect_args={"timeout": 30}, **pool)
        _sqlite_pragmas(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        # No pre-ping: it costs a round trip per checkout (several per ingest); recycling covers idle disconnects.
        return create_engine(parsed, pool_recycle=300, pool_size=10)
    raise ConfigError(f"db_url: expected sqlite:/// or postgresql+psycopg://, got {parsed.drivername!r}")


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so that ``_on_begin`` decides how each one starts.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL", "busy_timeout=30000"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front; a deferred transaction that upgrades later can fail with BUSY.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("wp_write") else "BEGIN")


def _participant(r: RowMapping) -> Participant:
    return Participant(
        r["id"], r["name"], bytes(r["public_key"]),
        None if r["wrapped_private_key"] is None else bytes(r["wrapped_private_key"]),
        r["key_id"], r["created_at"], r["erased_at"],
    )  # fmt: skip


def _device(r: RowMapping) -> Device:
    return Device(r["id"], r["participant_id"], r["name"], r["token_hash"], r["created_at"], r["revoked_at"])


def _segment(r: RowMapping) -> SegmentRecord:
    d = dict(r)
    d["scopes"] = tuple(d["scopes"])
    d["counts"] = dict(d["counts"])
    return SegmentRecord(**d)


AUDIT_APPENDED = "wp_audit_appended"


def append_audit(conn: Connection, entry: AuditEvent, now: int) -> int:
    """Append one audit entry inside the caller's transaction; returns its sequence number.

    The sequence number is assigned under the audit lock, held until the transaction ends: entries commit in
    sequence order, so no reader (a checkpoint above all) ever sees entry n+1 without entry n.
    """
    xact_lock(conn, AUDIT)
    conn.info[AUDIT_APPENDED] = True  # MetadataStore.write signs a checkpoint before this transaction commits
    values = {"at": now, "actor": entry.actor, "action": entry.action, "subject": entry.subject}
    result = conn.execute(insert(t.audit_log).values(**values, detail=dict(entry.detail)))
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


class MetadataStore:
    """Metadata over SQLite or PostgreSQL; ``url`` is a SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://``)."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.engine = _engine(url)
        self._writer = self.engine.execution_options(wp_write=True)
        # Lookups on the ingest path: on PostgreSQL in autocommit, so a lookup is one round trip instead of three
        # (BEGIN, SELECT, ROLLBACK on return); each round trip is a wait for the server process's turn on a CPU.
        self._lookups = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT") if self.backend == "postgresql" else self.engine
        )
        self._write_lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if self.backend == "sqlite" else contextlib.nullcontext()
        )
        # Signs a checkpoint inside every write transaction that appended audit entries (``AuditLog`` installs it),
        # so no entry is ever acknowledged without a signed tree head covering it.
        self.audit_sealer: Callable[[Connection], object] | None = None
        self.audit_committed: Callable[[Any], None] | None = None  # given the checkpoint once its commit is done
        self._segments: GroupCommit[SegmentRecord, bool] = GroupCommit(self._add_segments)
        upsert = pg_insert if self.backend == "postgresql" else sqlite_insert
        # Built once, values bound per row: no statement construction or cache-key walk per segment.
        self._insert_segment = (
            upsert(t.segments).on_conflict_do_nothing(index_elements=["id"]).returning(t.segments.c.id)
        )
        if create:
            t.create_schema(self._writer)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    # -- the one write path -------------------------------------------------------------------------------------

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one write transaction: committed when it returns, rolled back when it raises."""
        # SQLite has one writer at a time; threads of this process queue on a lock that wakes the next at once,
        # instead of on SQLite's busy handler, which sleeps in growing steps (up to 100 ms) while it waits.
        sealed: object = None
        with self._write_lock, self._writer.begin() as conn:
            try:
                result = fn(conn)
                if conn.info.get(AUDIT_APPENDED) and self.audit_sealer is not None:
                    # Still under the audit lock: the checkpoint covers exactly the log.
                    sealed = self.audit_sealer(conn)
            finally:
                conn.info.pop(AUDIT_APPENDED, None)
        if sealed is not None and self.audit_committed is not None:
            self.audit_committed(sealed)
        return result

    @contextmanager
    def _read(self, conn: Connection | None = None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
            return
        with self.engine.connect() as own:
            yield own

    def reading(self) -> contextlib.AbstractContextManager[Connection]:
        """One connection for several lookups (pass it as ``conn``): one checkout instead of one each. On PostgreSQL
        it is in autocommit (each statement its own snapshot), for the ingest path's independent point lookups."""
        return self._lookups.connect()

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self._read() as conn:
            conn.execute(text("SELECT 1"))

    # -- participants ---------------------------------------------------------------------------------------------

    def add_participant(
        self, p: Participant, audit: AuditEvent, wrap: Callable[[], tuple[bytes, str]] | None = None
    ) -> None:
        """Insert a participant and its audit entry; ``wrap() -> (wrapped private key, key id)``, when given, runs
        inside and replaces the participant's own.

        The wrap happens under the shared key lock, so a key rotation's last pass (which takes it exclusively) sees
        every participant wrapped under an older key version and re-wraps them before that version is retired.
        """

        def fn(conn: Connection) -> None:
            xact_lock(conn, KEYS, shared=True)
            wrapped, key_id = (p.wrapped_private_key, p.key_id) if wrap is None else wrap()
            conn.execute(insert(t.participants).values(
                id=p.id, name=p.name, public_key=p.public_key, wrapped_private_key=wrapped,
                key_id=key_id, created_at=p.created_at, erased_at=p.erased_at,
            ))  # fmt: skip
            append_audit(conn, audit, p.created_at)

        self.write(fn)

    def participant(self, participant_id: str, conn: Connection | None = None) -> Participant | None:
        """The participant, or None."""
        with self._read(conn) as conn:
            row = conn.execute(select(t.participants).where(t.participants.c.id == participant_id)).mappings().first()
        return None if row is None else _participant(row)

    def participants(self) -> list[Participant]:
        """Every participant, erased ones included, by id."""
        with self._read() as conn:
            rows = conn.execute(select(t.participants).order_by(t.participants.c.id)).mappings().all()
        return [_participant(r) for r in rows]

    def rewrap_keys(self, wrapped: dict[str, tuple[bytes, str]], now: int, audit: AuditEvent) -> int:
        """Replace wrapped private keys (id -> (wrapped, key_id)) in one transaction; erased ones stay destroyed."""

        def fn(conn: Connection) -> int:
            c = t.participants.c
            n = 0
            for pid, (key, key_id) in wrapped.items():
                n += conn.execute(
                    update(t.participants)
                    .where(c.id == pid, c.wrapped_private_key.is_not(None))
                    .values(wrapped_private_key=key, key_id=key_id)
                ).rowcount
            append_audit(conn, audit, now)
            return n

        return self.write(fn)

    def finish_rewrap(
        self,
        done: set[str],
        rewrap: Callable[[str, bytes], tuple[bytes, str]],
        now: int,
        audit: Callable[[int], AuditEvent],
    ) -> int:
        """Under the exclusive key lock, re-wrap every live participant not in ``done`` (created while a rotation
        re-wrapped the others) and the key-store canary; ``audit(n)`` is the entry; returns n, how many were."""

        def fn(conn: Connection) -> int:
            xact_lock(conn, KEYS)
            c = t.participants.c
            rows = conn.execute(select(c.id, c.wrapped_private_key).where(c.wrapped_private_key.is_not(None)))
            n = 0
            for pid, wrapped in [(str(r[0]), bytes(r[1])) for r in rows if str(r[0]) not in done]:
                key, key_id = rewrap(pid, wrapped)
                conn.execute(update(t.participants).where(c.id == pid).values(wrapped_private_key=key, key_id=key_id))
                n += 1
            canary = conn.execute(select(t.deployment.c.value).where(t.deployment.c.name == CANARY)).scalar()
            if canary is not None:
                value = rewrap(CANARY_ID, bytes.fromhex(str(canary)))[0].hex()
                conn.execute(update(t.deployment).where(t.deployment.c.name == CANARY).values(value=value))
            append_audit(conn, audit(n), now)
            return n

        return self.write(fn)

    # -- what every replica must share -----------------------------------------------------------------------------

    def deployment_value(self, name: str, make: Callable[[], str]) -> str:
        """The deployment-wide value ``name``, set to ``make()`` by whichever process asks first."""
        d = t.deployment
        with self._read() as conn:
            found = conn.execute(select(d.c.value).where(d.c.name == name)).scalar()
        if found is not None:
            return str(found)
        value = make()
        upsert = pg_insert if self.backend == "postgresql" else sqlite_insert
        self.write(lambda conn: conn.execute(upsert(d).values(name=name, value=value).on_conflict_do_nothing()))
        with self._read() as conn:
            return str(conn.execute(select(d.c.value).where(d.c.name == name)).scalar_one())

    def try_lease(self, lock: int) -> Lease | None:
        """Hold a process-wide lock of this database (``store.coordination``), or None when another process does."""
        return try_lease(self.engine, lock)

    def erase_participant(
        self,
        participant_id: str,
        now: int,
        audits: Sequence[AuditEvent],
        *,
        destroy_key: Callable[[], object] = lambda: None,
    ) -> list[str]:
        """Drop the wrapped private key, blank the name, void unused codes; returns the segments' blob keys.

        ``destroy_key`` (destroying the participant's key in the key service) runs last inside the transaction, with
        the ``audits`` entries written: when it fails nothing is committed and the erasure can simply be retried;
        when the commit fails after it, the key is gone anyway and erasing again completes the rows.
        """

        def fn(conn: Connection) -> list[str]:
            # Under the shared key lock: a key rotation's last pass (exclusive) never meets a key being destroyed.
            xact_lock(conn, KEYS, shared=True)
            conn.execute(
                update(t.participants)
                .where(t.participants.c.id == participant_id)
                .values(wrapped_private_key=None, name="", erased_at=now)
            )
            conn.execute(
                update(t.enrolment_codes)
                .where(t.enrolment_codes.c.participant_id == participant_id, t.enrolment_codes.c.used_at.is_(None))
                .values(used_at=now)
            )
            for audit in audits:
                append_audit(conn, audit, now)
            rows = conn.execute(select(t.segments.c.blob_key).where(t.segments.c.participant_id == participant_id))
            blob_keys = [str(r[0]) for r in rows]
            destroy_key()
            return blob_keys

        return self.write(fn)

    # -- enrolment and devices ------------------------------------------------------------------------------------

    def add_enrolment_code(self, code_hash: str, participant_id: str, expires_at: int, now: int, actor: str) -> None:
        """Store a code's hash (never the code) with its expiry."""

        def fn(conn: Connection) -> None:
            conn.execute(insert(t.enrolment_codes).values(
                code_hash=code_hash, participant_id=participant_id, expires_at=expires_at, used_at=None
            ))  # fmt: skip
            detail = {"expires_at": expires_at}
            append_audit(conn, AuditEvent(actor, "enrolment_code.create", f"participant:{participant_id}", detail), now)

        self.write(fn)

    def enroll_device(self, code_hash: str, device_id: str, name: str, token_hash: str, now: int) -> Device | None:
        """Consume a valid code and add the device, atomically; None when the code is unknown, used or expired."""

        def fn(conn: Connection) -> Device | None:
            c = t.enrolment_codes.c
            # One conditional UPDATE, so two racing enrolments with the same code cannot both succeed.
            taken = conn.execute(
                update(t.enrolment_codes)
                .where(c.code_hash == code_hash, c.used_at.is_(None), c.expires_at > now)
                .values(used_at=now)
                .returning(c.participant_id)
            ).first()
            if taken is None:
                return None
            device = Device(device_id, str(taken[0]), name, token_hash, now)
            conn.execute(insert(t.devices).values(
                id=device.id, participant_id=device.participant_id, name=name, token_hash=token_hash,
                created_at=now, revoked_at=None,
            ))  # fmt: skip
            detail = {"participant_id": device.participant_id}  # no device name: it often names its owner
            append_audit(conn, AuditEvent(f"device:{device_id}", "device.enroll", f"device:{device_id}", detail), now)
            return device

        return self.write(fn)

    def device_by_token_hash(self, token_hash: str) -> Device | None:
        """The device whose token hashes to ``token_hash``, or None."""
        with self._lookups.connect() as conn:
            row = conn.execute(select(t.devices).where(t.devices.c.token_hash == token_hash)).mappings().first()
        return None if row is None else _device(row)

    def revoke_device(self, device_id: str, now: int, audit: AuditEvent) -> bool:
        """Revoke a device's token; False when there is no such device."""

        def fn(conn: Connection) -> bool:
            n = conn.execute(
                update(t.devices)
                .where(t.devices.c.id == device_id, t.devices.c.revoked_at.is_(None))
                .values(revoked_at=now)
            ).rowcount
            append_audit(conn, audit, now)
            return bool(n)

        return self.write(fn)

    # -- segments -------------------------------------------------------------------------------------------------

    def add_segment(self, rec: SegmentRecord) -> bool:
        """Insert a segment manifest; False (and nothing written) when a segment with that id exists.

        Returns once the row is committed. Concurrent calls share one transaction (group commit), so a burst of
        uploads pays for one durable commit instead of one each.
        """
        return self._segments.submit(rec)

    def _add_segments(self, recs: Sequence[SegmentRecord]) -> list[bool]:
        rows = []
        for rec in recs:
            values: dict[str, Any] = {name: getattr(rec, name) for name in _SEGMENT_COLUMNS}
            values["scopes"], values["counts"] = list(rec.scopes), dict(rec.counts)
            rows.append(values)

        def fn(conn: Connection) -> list[bool]:
            # One statement for the whole batch (SQLAlchemy's "insertmanyvalues"): one round trip, not one per row.
            inserted = {str(r[0]) for r in conn.execute(self._insert_segment, rows)}
            added = []
            for rec in recs:  # a segment already held (or twice in this batch) inserts nothing: False
                added.append(rec.id in inserted)
                inserted.discard(rec.id)
            return added

        return self.write(fn)

    def ingest_state(
        self, participant_id: str, segment_id: str, conn: Connection
    ) -> tuple[bool | None, bool, str | None]:
        """(whether the participant is erased, None when unknown; whether the segment is held; why its bytes were
        deleted, None unless they were), in one statement."""
        s, p, gone = t.segments, t.participants, t.segment_tombstones
        held = select(s.c.id).where(s.c.id == segment_id).exists().label("held")
        why = select(gone.c.reason).where(gone.c.id == segment_id).scalar_subquery().label("gone")
        row = conn.execute(select(p.c.erased_at, held, why).where(p.c.id == participant_id)).first()
        if row is None:
            return None, False, None
        return row[0] is not None, bool(row[1]), None if row[2] is None else str(row[2])

    def quarantine(self, segment_id: str, reason: str, audit: AuditEvent, now: int) -> None:
        """Mark a segment quarantined (it failed to open) with its reason, once, with its audit entry."""

        def fn(conn: Connection) -> None:
            upsert = pg_insert if self.backend == "postgresql" else sqlite_insert
            row = {"id": segment_id, "reason": reason[:300], "at": now}
            if conn.execute(upsert(t.segment_quarantine).values(**row).on_conflict_do_nothing()).rowcount:
                append_audit(conn, audit, now)

        self.write(fn)

    def quarantined(self, segment_ids: Sequence[str] | None = None) -> dict[str, str]:
        """Segment id -> why it is quarantined, for ``segment_ids`` (or every one)."""
        q = t.segment_quarantine
        stmt = select(q.c.id, q.c.reason)
        if segment_ids is not None:
            if not segment_ids:
                return {}
            stmt = stmt.where(q.c.id.in_(list(segment_ids)))
        with self._read() as conn:
            return {str(r[0]): str(r[1]) for r in conn.execute(stmt)}

    def replace_segment(self, old_id: str, new: SegmentRecord | None, audit: AuditEvent, now: int) -> None:
        """In one transaction: drop segment ``old_id``, remember its id (a tombstone: its bytes are refused from now
        on), add ``new`` (its narrowed copy, whose blob is already stored) if any, and append ``audit``."""

        def fn(conn: Connection) -> None:
            conn.execute(delete(t.segments).where(t.segments.c.id == old_id))
            conn.execute(delete(t.segment_quarantine).where(t.segment_quarantine.c.id == old_id))
            upsert = pg_insert if self.backend == "postgresql" else sqlite_insert
            conn.execute(
                upsert(t.segment_tombstones).values(id=old_id, reason=audit.action, at=now).on_conflict_do_nothing()
            )
            if new is not None:
                values: dict[str, Any] = {name: getattr(new, name) for name in _SEGMENT_COLUMNS}
                values["scopes"], values["counts"] = list(new.scopes), dict(new.counts)
                conn.execute(insert(t.segments).values(**values))
            append_audit(conn, audit, now)

        self.write(fn)

    def segment(self, segment_id: str, conn: Connection | None = None) -> SegmentRecord | None:
        """The manifest of one segment, or None."""
        with self._read(conn) as conn:
            row = conn.execute(select(t.segments).where(t.segments.c.id == segment_id)).mappings().first()
        return None if row is None else _segment(row)

    def segments(self, participant_id: str | None = None) -> list[SegmentRecord]:
        """Manifests of the segments of non-erased participants, in (participant, session, seq) order."""
        s, p = t.segments, t.participants
        q = select(s).join(p, p.c.id == s.c.participant_id).where(p.c.erased_at.is_(None))
        if participant_id is not None:
            q = q.where(s.c.participant_id == participant_id)
        q = q.order_by(s.c.participant_id, s.c.session, s.c.seq, s.c.id)
        with self._read() as conn:
            return [_segment(r) for r in conn.execute(q).mappings()]

    # -- audit ----------------------------------------------------------------------------------------------------

    def append_audit(self, entry: AuditEvent, now: int) -> int:
        """Append one audit entry in its own transaction; returns its sequence number."""
        return self.write(lambda conn: append_audit(conn, entry, now))

    def audit_entries(self, after: int = 0) -> list[AuditEntry]:
        """Audit entries with ``seq > after``, oldest first."""
        a = t.audit_log
        with self._read() as conn:
            rows = conn.execute(select(a).where(a.c.seq > after).order_by(a.c.seq)).mappings().all()
        return [_audit(r) for r in rows]


def _audit(r: RowMapping) -> AuditEntry:
    return AuditEntry(int(r["seq"]), r["at"], r["actor"], r["action"], r["subject"], dict(r["detail"]))
