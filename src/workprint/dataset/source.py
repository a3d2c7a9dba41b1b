"""Where a release build reads segments from: a ``SegmentSource`` lists refs and opens them one at a time.

Opening one segment at a time (not one generator over all of them) is what lets a build skip a corrupt, truncated,
erased or unknown-schema segment with a named entry in its report and carry on with the rest. ``ServerSource`` reads
through ``ServerAPI.read_segment``, so each decryption is an audited read by ``actor`` under ``grant_id`` (recorded in
each read's audit entry; checking that the grant is approved and current is the caller's, ``server.access``).
It is picklable and builds its ``ServerAPI`` lazily from settings, so Ray workers open segments through the same
audited path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from workprint.errors import ConfigError
from workprint.segment import Segment

if TYPE_CHECKING:
    from workprint.config import ServerSettings
    from workprint.server.api import ServerAPI
    from workprint.server.identity import Principal


@dataclass(frozen=True, slots=True)
class SegmentRef:
    """What is known about a segment before it is opened (from the manifest, never from plaintext)."""

    id: str
    participant: str
    session: str
    seq: int
    notice_version: str = ""
    wall_start_ns: int = 0
    wall_end_ns: int = 0


class SegmentSource(Protocol):
    """Segments to build from, in (participant, session, seq) order."""

    def refs(self) -> Iterable[SegmentRef]:
        """Every segment's ref, in (participant, session, seq) order."""
        ...

    def open(self, ref: SegmentRef) -> Segment:
        """Decrypt one segment; raises a ``WorkprintError`` when it cannot be read."""
        ...


def memory_segment_id(seg: Segment) -> str:
    """A stable id for a segment held in memory (the hash of its readable header)."""
    return hashlib.sha256(seg.header.to_bytes()).hexdigest()


class MemorySource:
    """Already opened segments (tests, importers); ``broken`` maps ids to errors raised when opened."""

    def __init__(self, segments: Sequence[Segment], broken: dict[str, Exception] | None = None) -> None:
        self._by_id = {memory_segment_id(s): s for s in segments}
        self._refs = [
            SegmentRef(
                memory_segment_id(s), s.header.participant, s.header.session, s.header.seq,
                s.header.notice_version, s.header.wall_start_ns, s.header.wall_end_ns,
            )
            for s in segments
        ]  # fmt: skip
        self._broken = dict(broken or {})

    def add_broken(self, ref: SegmentRef, error: Exception) -> None:
        """A ref that fails to open with ``error``."""
        self._refs.append(ref)
        self._broken[ref.id] = error

    def refs(self) -> Iterable[SegmentRef]:
        return sorted(self._refs, key=lambda r: (r.participant, r.session, r.seq, r.id))

    def open(self, ref: SegmentRef) -> Segment:
        if ref.id in self._broken:
            raise self._broken[ref.id]
        return self._by_id[ref.id]


class ServerSource:
    """The collection server's segments, each opened as an audited read by ``actor``."""

    def __init__(
        self,
        settings: ServerSettings,
        actor: str,
        *,
        api: ServerAPI | None = None,
        participant: str | None = None,
        grant_id: str | None = None,
        token: str | None = None,
    ) -> None:
        self.settings = settings
        self.actor = actor
        self.participant = participant
        self.grant_id = grant_id
        # With a steward's API token, segments are listed and read only through ``grant_id`` (approved by a second
        # steward, unexpired, covering the participant): the server's access rules decide, not this code.
        self.token = token
        self._api = api

    def __getstate__(self) -> dict[str, Any]:
        # A live API (engine, pools) does not cross process boundaries; workers build their own.
        return {k: getattr(self, k) for k in ("settings", "actor", "participant", "grant_id", "token")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
        self._api = None

    @property
    def api(self) -> ServerAPI:
        """The server's domain API (built on first use)."""
        if self._api is None:
            from workprint.server.serve import build_api

            self._api = build_api(self.settings)
        return self._api

    def _granted(self) -> tuple[Principal, str] | None:
        if self.token is None:
            return None
        if self.grant_id is None:
            raise ConfigError("grant: a token reads recorded data only under an approved grant; none was given")
        return self.api.identity.principal_from_api_token(self.token), self.grant_id

    def refs(self) -> Iterable[SegmentRef]:
        granted = self._granted()
        if granted is None:
            records = self.api.metadata.segments(self.participant)
        else:
            records = [
                r for r in self.api.access.grant_segments(*granted) if self.participant in (None, r.participant_id)
            ]
        for r in records:
            yield SegmentRef(r.id, r.participant_id, r.session, r.seq, r.notice_version, r.wall_start_ns, r.wall_end_ns)

    def open(self, ref: SegmentRef) -> Segment:
        granted = self._granted()
        if granted is None:
            return self.api.read_segment(self.actor, ref.id, grant_id=self.grant_id)
        return self.api.access.read_with_grant(granted[0], granted[1], ref.id)


__all__ = ["MemorySource", "SegmentRef", "SegmentSource", "ServerSource", "memory_segment_id"]
