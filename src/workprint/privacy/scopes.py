"""Which consent scopes a record belongs to, and a segment cut down to some scopes (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from workprint.models import ALL_SCOPES, SCOPE_OF_KIND, Event, FrameEvent, Scope, WindowEvent
from workprint.segment import Segment, declared_counts


def scopes_of_event(event: Event) -> set[Scope]:
    """The scopes whose consent a record needs. A window record needs a scope for each non-empty part."""
    if isinstance(event, WindowEvent):
        needed: set[Scope] = set()
        if event.title:
            needed.add("window_titles")
        if event.app:
            needed.add("app_names")
        return needed
    scope = SCOPE_OF_KIND.get(event.KIND)
    return {scope} if scope else set()


def _keep(e: Event, scopes: frozenset[str]) -> Event | None:
    if isinstance(e, WindowEvent):
        app = e.app if "app_names" in scopes else ""
        title = e.title if "window_titles" in scopes else ""
        return e if (app, title) == (e.app, e.title) else replace(e, app=app, title=title)
    scope = SCOPE_OF_KIND.get(e.KIND)
    return e if scope is None or scope in scopes else None


def without_scopes(seg: Segment, withdrawn: Iterable[str]) -> Segment | None:
    """The segment without the records of the ``withdrawn`` scopes, its header's scopes and counts narrowed to
    what is left (so it can be sealed again); None when none of its scopes is left."""
    gone = frozenset(withdrawn)
    kept = narrow_to_scopes(seg, frozenset(s for s in seg.header.scopes if s in ALL_SCOPES and s not in gone))
    if kept is None or kept is seg:
        return kept
    return replace(kept, header=replace(kept.header, counts=declared_counts(kept.events)))


def narrow_to_scopes(seg: Segment, scopes: frozenset[str]) -> Segment | None:
    """The segment with only the records of ``scopes`` (header scopes narrowed); None when ``scopes`` is empty."""
    if not scopes:
        return None
    if scopes == frozenset(seg.header.scopes):
        return seg
    events = tuple(k for k in (_keep(e, scopes) for e in seg.events) if k is not None)
    frames = seg.frames if "screenshots" in scopes else {}
    if frames:
        kept = {e.frame_id for e in events if isinstance(e, FrameEvent)}
        frames = {k: v for k, v in frames.items() if k in kept}
    return Segment(header=replace(seg.header, scopes=tuple(sorted(scopes))), events=events, frames=frames)
