"""The Programs form's rule lines (pure): one ``kind:value`` per line, every rule checked, the bad line named."""

from __future__ import annotations

import pytest

from workprint.errors import ConfigError
from workprint.portal.program_pages import parse_rule_lines, rule_lines
from workprint.privacy.exclusions import ExclusionRules


def test_rule_lines_become_org_rules_that_exclude_windows_and_print_back_the_same() -> None:
    text = "# finance\napp:Slack\n\ntitle: payroll 20\\d\\d \nSITE:intranet.example\nprivate:"
    rules = parse_rule_lines(text)
    assert rules == [{"kind": "app", "value": "Slack"}, {"kind": "title", "value": "payroll 20\\d\\d"},
                     {"kind": "site", "value": "intranet.example"}, {"kind": "private", "value": ""}]  # fmt: skip
    built = ExclusionRules.build(rules, defaults=False)
    assert built.excluded("slack", "x") and built.excluded("libreoffice", "Payroll 2026.ods")
    assert not built.excluded("libreoffice", "Payroll summary.ods")
    assert parse_rule_lines(rule_lines(rules)) == rules


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "app:Slack\nwindow:Foo",
            "rules: line 2: expected app:NAME, title:REGEX, site:DOMAIN or private:, got 'window:Foo'",
        ),
        ("Slack", "rules: line 1: expected app:NAME, title:REGEX, site:DOMAIN or private:, got 'Slack'"),
        ("\n\ntitle:([a-z]", "rules: line 3: exclusion rule (title): invalid regular expression '([a-z]'"),
        ("site:  ", "rules: line 1: exclusion rule (site): value: must not be empty"),
    ],
)
def test_a_bad_rule_line_is_named_with_its_value(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_rule_lines(text)
    assert str(err.value).startswith(message)
