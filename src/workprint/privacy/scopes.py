"""Which consent scopes a record belongs to (pure)."""

from __future__ import annotations

from workprint.models import SCOPE_OF_KIND, Event, Scope, WindowEvent


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
