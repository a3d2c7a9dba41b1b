"""Which windows are never recorded (pure): default, organisation and personal exclusion rules.

Rules only ever add exclusions: the defaults (password managers, lock screens, private browser windows, terminals
showing a sudo/ssh/password prompt), the organisation's rules from the program, and the participant's own rules are
all applied together, so no rule can make a window recordable. Kinds:

- ``app``: the window's WM_CLASS class (``WindowEvent.app``), compared case-insensitively;
- ``title``: a regular expression searched in the title (case-insensitive), optionally only for ``apps``. Title
  rules are compiled with RE2 (``google-re2``), whose matching time is linear in the title whatever the pattern:
  organisation rules come from a steward and run on every device, so a pattern such as ``(a+)+$`` must not be able
  to stall capture. The syntax is Python's less backreferences and lookaround, which are refused naming the rule;
- ``site``: text searched (case-insensitively) in the page part of a browser window's title, e.g. ``Bank of X``
  matches ``Online banking - Bank of X - Mozilla Firefox``;
- ``private``: private/incognito browser windows, recognised by their title markers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import re2

from workprint.errors import ConfigError

RuleKind = Literal["app", "title", "site", "private"]
RuleSource = Literal["default", "org", "personal"]
RULE_KINDS: tuple[RuleKind, ...] = ("app", "title", "site", "private")

BROWSERS = frozenset(
    {"firefox", "firefox-esr", "navigator", "chromium", "chromium-browser", "google-chrome", "brave-browser"}
    | {"microsoft-edge", "vivaldi-stable", "opera", "librewolf", "epiphany", "org.gnome.epiphany", "falkon"}
)
TERMINALS = frozenset(
    {"xterm", "uxterm", "gnome-terminal", "gnome-terminal-server", "konsole", "alacritty", "kitty", "urxvt"}
    | {"rxvt", "terminator", "tilix", "xfce4-terminal", "lxterminal", "st", "st-256color", "wezterm", "foot"}
    | {"sakura", "qterminal", "mate-terminal", "terminology", "guake", "tilda", "yakuake"}
)
PASSWORD_MANAGERS = (
    "keepassxc", "keepass", "keepass2", "1password", "bitwarden", "enpass", "seahorse", "kwalletmanager5",
    "kwalletd5", "pinentry", "pinentry-gtk-2", "pinentry-qt", "gcr-prompter", "ssh-askpass", "x11-ssh-askpass",
    "polkit-gnome-authentication-agent-1", "lxpolkit", "qtpass", "gopass",
)  # fmt: skip
LOCK_SCREENS = (
    "xscreensaver", "i3lock", "light-locker", "slock", "xsecurelock", "gnome-screensaver", "xlock", "xtrlock",
    "swaylock", "lightdm-gtk-greeter", "kscreenlocker_greet", "cinnamon-screensaver", "mate-screensaver",
    "xfce4-screensaver",
)  # fmt: skip

_BROWSER_SUFFIX = re.compile(
    r"\s+[-—–]\s+(?:Mozilla Firefox|Firefox|Chromium|Google Chrome|Brave|Microsoft Edge|Vivaldi|Opera|LibreWolf)"
    r"(?:\s+Private Browsing|\s+\(Private Browsing\)|\s+\(Incognito\)|\s+\(Private\))?\s*$",
    re.IGNORECASE,
)
_PRIVATE_MARKERS = re.compile(
    r"private browsing|\(incognito\)|incognito tab|\binprivate\b|\(private\)\s*$|private window", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class ExclusionRule:
    """One rule. ``apps`` restricts a title rule to some WM_CLASS classes; ``name`` is for people reading lists."""

    kind: RuleKind
    value: str = ""
    source: RuleSource = "personal"
    apps: tuple[str, ...] = ()
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "value": self.value}
        if self.apps:
            d["apps"] = list(self.apps)
        if self.name:
            d["name"] = self.name
        return d

    def describe(self) -> str:
        where = (
            f" in {', '.join(self.apps)}"
            if self.apps and len(self.apps) <= 3
            else (" in terminals" if self.apps else "")
        )
        return self.name or f"{self.kind} {self.value!r}{where}"


def rule_from_dict(d: Mapping[str, Any], source: RuleSource) -> ExclusionRule:
    """Build and validate a rule; a bad kind, empty value or broken regex raises ``ConfigError`` naming it."""
    kind, value = d.get("kind"), d.get("value", "")
    if kind not in RULE_KINDS:
        raise ConfigError(f"exclusion rule: kind: expected one of {', '.join(RULE_KINDS)}, got {kind!r}")
    if not isinstance(value, str):
        raise ConfigError(f"exclusion rule ({kind}): value: expected text, got {value!r}")
    apps = d.get("apps", ())
    if not isinstance(apps, list | tuple) or not all(isinstance(a, str) for a in apps):
        raise ConfigError(f"exclusion rule ({kind} {value!r}): apps: expected a list of WM_CLASS names, got {apps!r}")
    rule = ExclusionRule(kind, value, source, tuple(apps), str(d.get("name", "")))
    _compile(rule)
    return rule


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.never_capture = True  # only "does it match" is asked
    options.log_errors = False  # a refused pattern is reported once, by the ConfigError below
    return options


_RE2_OPTIONS = _re2_options()


class _Pattern(Protocol):
    def search(self, text: str, /) -> object | None: ...


def _compile(rule: ExclusionRule) -> _Pattern | None:
    if rule.kind != "private" and not rule.value.strip():
        raise ConfigError(f"exclusion rule ({rule.kind}): value: must not be empty")
    if rule.kind != "title":
        return None
    try:
        return re2.compile(rule.value, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ConfigError(f"exclusion rule (title): invalid regular expression {rule.value!r}: {reason}") from None


def page_title(app: str, title: str) -> str | None:
    """The page part of a browser window's title, or None if the window is not a browser."""
    m = _BROWSER_SUFFIX.search(title)
    if m:
        return title[: m.start()]
    return title if app.casefold() in BROWSERS else None


def _default_rules() -> tuple[ExclusionRule, ...]:
    rules = [ExclusionRule("app", a, "default") for a in (*PASSWORD_MANAGERS, *LOCK_SCREENS)]
    rules.append(
        ExclusionRule("title", r"\b(keepassxc|keepass|1password|bitwarden|enpass|lastpass|dashlane)\b", "default",
                      name="password manager (title)")
    )  # fmt: skip
    rules.append(ExclusionRule("private", "", "default", name="private/incognito browser window"))
    rules.append(
        ExclusionRule(
            "title",
            r"\[sudo\]|password|passphrase|passwort|mot de passe|^\s*(sudo|su|ssh|pass|gopass)\b|'s password",
            "default",
            apps=tuple(sorted(TERMINALS)),
            name="terminal showing sudo/ssh/password prompt",
        )
    )
    return tuple(rules)


DEFAULT_RULES = _default_rules()


@dataclass(frozen=True, slots=True)
class ExclusionRules:
    """A compiled, immutable rule set; ``match`` says which rule (if any) excludes a window."""

    rules: tuple[ExclusionRule, ...] = DEFAULT_RULES
    _apps: frozenset[str] = field(init=False, repr=False, compare=False)
    _titles: tuple[tuple[ExclusionRule, _Pattern], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        titles = []
        for r in self.rules:
            pat = _compile(r)
            if pat is not None:
                titles.append((r, pat))
        # Frozen dataclass: the compiled forms are derived once, here.
        object.__setattr__(self, "_apps", frozenset(r.value.casefold() for r in self.rules if r.kind == "app"))
        object.__setattr__(self, "_titles", tuple(titles))

    @classmethod
    def build(
        cls, org: Iterable[Mapping[str, Any]] = (), personal: Iterable[Mapping[str, Any]] = (), *, defaults: bool = True
    ) -> ExclusionRules:
        """Defaults + organisation + personal rules; any broken rule raises ``ConfigError`` and builds nothing."""
        rules = list(DEFAULT_RULES if defaults else ())
        rules += [rule_from_dict(d, "org") for d in org]
        rules += [rule_from_dict(d, "personal") for d in personal]
        return cls(tuple(rules))

    def with_added(self, rules: Iterable[Mapping[str, Any]], source: RuleSource = "personal") -> ExclusionRules:
        """A new set with more rules (this one is unchanged, also when a new rule is broken)."""
        return ExclusionRules((*self.rules, *(rule_from_dict(d, source) for d in rules)))

    def match(self, app: str, title: str) -> ExclusionRule | None:
        """The first rule excluding a window with this WM_CLASS class and title, or None."""
        app_cf = app.casefold()
        if app_cf in self._apps:
            return next(r for r in self.rules if r.kind == "app" and r.value.casefold() == app_cf)
        for r, pat in self._titles:
            if r.apps and app_cf not in {a.casefold() for a in r.apps}:
                continue
            if pat.search(title):
                return r
        page = page_title(app, title)
        for r in self.rules:
            if r.kind == "private" and _PRIVATE_MARKERS.search(title):
                return r
            if r.kind == "site" and page is not None and r.value.casefold() in page.casefold():
                return r
        return None

    def excluded(self, app: str, title: str) -> bool:
        """True if any rule excludes the window."""
        return self.match(app, title) is not None


__all__ = [
    "BROWSERS",
    "DEFAULT_RULES",
    "LOCK_SCREENS",
    "PASSWORD_MANAGERS",
    "RULE_KINDS",
    "TERMINALS",
    "ExclusionRule",
    "ExclusionRules",
    "RuleKind",
    "RuleSource",
    "page_title",
    "rule_from_dict",
]
