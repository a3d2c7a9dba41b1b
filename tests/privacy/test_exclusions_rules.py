"""Exclusion rules: defaults, organisation and personal rules, sites, private windows, broken regexes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from workprint.errors import ConfigError
from workprint.privacy.exclusions import ExclusionRules, page_title

DEFAULTS = ExclusionRules()


@pytest.mark.parametrize(
    ("app", "title"),
    [
        ("KeePassXC", "Passwords.kdbx - KeePassXC"),
        ("1Password", "1Password"),
        ("Bitwarden", "Bitwarden"),
        ("firefox", "My Vault | Bitwarden Web Vault — Mozilla Firefox"),
        ("Pinentry", "pinentry-gtk-2"),
        ("XScreenSaver", "screensaver"),
        ("i3lock", ""),
        ("Light-locker", ""),
        ("firefox", "New Tab — Mozilla Firefox Private Browsing"),
        ("firefox", "Shop - Mozilla Firefox (Private Browsing)"),
        ("Chromium", "New Incognito Tab - Chromium (Incognito)"),
        ("XTerm", "[sudo] password for alice:"),
        ("XTerm", "ssh alice@build-server"),
        ("gnome-terminal-server", "sudo apt upgrade"),
        ("Alacritty", "alice@host's password:"),
        ("URxvt", "pass show email/work"),
    ],
)
def test_defaults_exclude_password_managers_lock_screens_private_windows_and_prompts(app: str, title: str) -> None:
    assert DEFAULTS.excluded(app, title), (app, title)


@pytest.mark.parametrize(
    ("app", "title"),
    [
        ("XTerm", "alice@host: ~/src"),
        ("firefox", "Online banking - Bank of X - Mozilla Firefox"),
        ("Gedit", "notes on sudo.txt"),  # not a terminal: the prompt rule is for terminals
        ("libreoffice", "Budget 2026.ods - LibreOffice Calc"),
        ("", ""),
    ],
)
def test_defaults_keep_ordinary_windows(app: str, title: str) -> None:
    assert not DEFAULTS.excluded(app, title), (app, title)


def test_site_rule_matches_the_page_part_of_browser_titles_only() -> None:
    rules = ExclusionRules.build(personal=[{"kind": "site", "value": "Bank of X"}])
    assert rules.excluded("firefox", "Online banking - Bank of X - Mozilla Firefox")
    assert rules.excluded("Chromium", "Transfers | bank of x - Chromium")
    assert not rules.excluded("Gedit", "letter to Bank of X.txt")
    assert page_title("firefox", "Inbox - Mozilla Firefox") == "Inbox"
    assert page_title("Gedit", "Inbox - gedit") is None


def test_org_and_personal_rules_add_to_the_defaults() -> None:
    rules = ExclusionRules.build(
        org=[{"kind": "app", "value": "Slack"}], personal=[{"kind": "title", "value": r"^Diary\b"}]
    )
    assert rules.excluded("Slack", "general")
    assert rules.excluded("Gedit", "diary 2026-11-27")  # case-insensitive
    assert rules.excluded("KeePassXC", "x")  # defaults still apply
    sources = {r.source for r in rules.rules}
    assert sources == {"default", "org", "personal"}


def test_title_rule_can_be_limited_to_apps() -> None:
    rules = ExclusionRules.build(personal=[{"kind": "title", "value": "payroll", "apps": ["Gedit"]}], defaults=False)
    assert rules.excluded("gedit", "payroll.txt")
    assert not rules.excluded("firefox", "payroll - Mozilla Firefox")


def test_broken_regex_names_rule_and_value_and_keeps_previous_rules() -> None:
    before = ExclusionRules.build(personal=[{"kind": "title", "value": "secret"}])
    with pytest.raises(ConfigError) as exc:
        before.with_added([{"kind": "title", "value": "([a-z"}])
    msg = str(exc.value)
    assert "title" in msg and "'([a-z'" in msg and "\n" not in msg
    assert before.excluded("Gedit", "top secret")
    assert len(before.rules) == len(ExclusionRules().rules) + 1


@pytest.mark.parametrize(
    ("rule", "needle"),
    [
        ({"kind": "process", "value": "x"}, "'process'"),
        ({"kind": "app", "value": ""}, "value"),
        ({"kind": "site", "value": 3}, "3"),
        ({"kind": "title", "value": "x", "apps": "Gedit"}, "apps"),
    ],
)
def test_bad_rules_name_the_field(rule: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        ExclusionRules.build(personal=[rule])


def test_a_catastrophic_title_regex_matches_in_linear_time() -> None:
    # A steward's rule runs on every device: with a backtracking engine this title would take longer than the age
    # of the universe; in a subprocess, so that a regression fails on the timeout instead of hanging the suite.
    code = """if True:
        from workprint.privacy.exclusions import ExclusionRules
        rules = ExclusionRules.build([{"kind": "title", "value": "(a+)+$"}], defaults=False)
        assert not rules.excluded("gedit", "a" * 50_000 + "!")
        assert rules.excluded("gedit", "a" * 50_000)
        print("ok")
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout == "ok\n", done.stderr


@pytest.mark.parametrize(
    ("value", "reason"),
    [(r"(a)\1", r"invalid escape sequence: \1"), ("secret(?=s)", "invalid perl operator: (?=")],
)
def test_patterns_without_a_linear_time_match_are_refused_naming_rule_and_reason(value: str, reason: str) -> None:
    with pytest.raises(ConfigError) as exc:
        ExclusionRules.build([{"kind": "title", "value": value}])
    assert str(exc.value) == f"exclusion rule (title): invalid regular expression {value!r}: {reason}"


def test_title_rules_keep_their_case_insensitive_unicode_matching() -> None:
    rules = ExclusionRules.build(personal=[{"kind": "title", "value": r"^Café\s+\d{4}|Über"}], defaults=False)
    assert rules.excluded("gedit", "CAFÉ 2026 minutes") and rules.excluded("gedit", "über alles")
    assert not rules.excluded("gedit", "the Café 2026")
