"""Collection programs and their versioned notices (pure).

A steward defines a program: why data is collected, which scopes it asks for, how long it is kept, which windows
are never recorded, and the notice a participant reads before consenting. Consent is given to one notice version;
publishing a new version makes earlier consent to the scopes it covers inactive until the participant confirms again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workprint.errors import ConfigError, ConsentError
from workprint.models import ALL_SCOPES, Scope

DEFAULT_RECONFIRM_DAYS = 30
# How devices encode screenshots: JPEG (cheapest to encode), WebP (about 40 % smaller, 5x the encoding time) or
# "auto": JPEG, and WebP while the agent's own CPU leaves room for it.
FRAME_FORMATS = ("auto", "jpeg", "webp")


def parse_scope(name: str) -> Scope:
    """Return ``name`` as a Scope; an unknown name raises ``ConsentError`` naming it."""
    for scope in ALL_SCOPES:
        if scope == name:
            return scope
    raise ConsentError(f"scope: unknown scope {name!r} (expected one of {', '.join(ALL_SCOPES)})")


@dataclass(frozen=True, slots=True)
class Notice:
    """The text a participant reads, under a version string; scopes granted under it cite the version."""

    version: str
    text: str

    def __post_init__(self) -> None:
        if not self.version.strip():
            raise ConfigError(f"notice.version: must not be empty, got {self.version!r}")
        if not self.text.strip():
            raise ConfigError("notice.text: must not be empty")


@dataclass(frozen=True, slots=True)
class Program:
    """A collection program: purpose, requested scopes, retention, default exclusions and the current notice.

    ``exclusions`` holds organisation exclusion rules as plain mappings (see ``privacy.exclusions.rule_from_dict``)
    so that this module stays free of regex compilation.
    """

    id: str
    purpose: str
    scopes: tuple[Scope, ...]
    retention_days: int
    notice: Notice
    exclusions: tuple[Mapping[str, Any], ...] = ()
    reconfirm_days: int = DEFAULT_RECONFIRM_DAYS
    controller: str = "workprint collection program"
    jurisdiction: str = "EU"
    policy_url: str = ""
    frame_format: str = "auto"

    def __post_init__(self) -> None:
        if not self.id.strip():
            raise ConfigError(f"program.id: must not be empty, got {self.id!r}")
        if not self.purpose.strip():
            raise ConfigError("program.purpose: must not be empty")
        if not self.scopes:
            raise ConfigError("program.scopes: must request at least one scope")
        for s in self.scopes:
            parse_scope(s)
        if len(set(self.scopes)) != len(self.scopes):
            raise ConfigError(f"program.scopes: duplicate scope in {list(self.scopes)!r}")
        if self.retention_days <= 0:
            raise ConfigError(
                f"program.retention_days: expected a positive number of days, got {self.retention_days!r}"
            )
        if self.frame_format not in FRAME_FORMATS:
            raise ConfigError(
                f"program.frame_format: expected one of {', '.join(FRAME_FORMATS)}, got {self.frame_format!r}"
            )
        if self.reconfirm_days <= 0:
            raise ConfigError(
                f"program.reconfirm_days: expected a positive number of days, got {self.reconfirm_days!r}"
            )

    @property
    def reconfirm_ns(self) -> int:
        return self.reconfirm_days * 86_400 * 1_000_000_000

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping (used by the device state file)."""
        return {
            "id": self.id,
            "purpose": self.purpose,
            "scopes": list(self.scopes),
            "retention_days": self.retention_days,
            "notice": {"version": self.notice.version, "text": self.notice.text},
            "exclusions": [dict(r) for r in self.exclusions],
            "reconfirm_days": self.reconfirm_days,
            "controller": self.controller,
            "jurisdiction": self.jurisdiction,
            "policy_url": self.policy_url,
            "frame_format": self.frame_format,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Program:
        """Rebuild from ``to_dict`` output; a missing or ill-typed field raises ``ConfigError`` naming it."""
        try:
            notice = d["notice"]
            return cls(
                id=str(d["id"]),
                purpose=str(d["purpose"]),
                scopes=tuple(parse_scope(str(s)) for s in d["scopes"]),
                retention_days=int(d["retention_days"]),
                notice=Notice(str(notice["version"]), str(notice["text"])),
                exclusions=tuple(dict(r) for r in d.get("exclusions", ())),
                reconfirm_days=int(d.get("reconfirm_days", DEFAULT_RECONFIRM_DAYS)),
                controller=str(d.get("controller", "workprint collection program")),
                jurisdiction=str(d.get("jurisdiction", "EU")),
                policy_url=str(d.get("policy_url", "")),
                frame_format=str(d.get("frame_format", "auto")),
            )
        except KeyError as exc:
            raise ConfigError(f"program.{exc.args[0]}: missing") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"program: malformed ({exc})") from None


DEFAULT_NOTICE = Notice(
    version="1",
    text=(
        "workprint records how you use this computer - the keys you press, your clicks and scrolls, the window you\n"
        "work in and a screenshot before each action - to train computer-use agents. You choose each kind of data\n"
        "separately. Taking part is voluntary: refusing or withdrawing changes nothing for you, and nobody but you\n"
        "learns whether you take part. You can pause at any time (`workprint pause`), withdraw any scope\n"
        "(`workprint consent withdraw SCOPE|all`), and see, export or delete what was recorded about you.\n"
        "Personal data and secrets are redacted on this device before anything is stored; password managers,\n"
        "lock screens and private browser windows are never recorded. Consent lasts 30 days, then you are asked again."
    ),
)

DEFAULT_PROGRAM = Program(
    id="default",
    purpose="Demonstrations of computer use for training computer-use agents",
    scopes=ALL_SCOPES,
    retention_days=365,
    notice=DEFAULT_NOTICE,
)


__all__ = [
    "DEFAULT_NOTICE",
    "DEFAULT_PROGRAM",
    "DEFAULT_RECONFIRM_DAYS",
    "FRAME_FORMATS",
    "Notice",
    "Program",
    "parse_scope",
]
