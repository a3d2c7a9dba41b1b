"""Detector unit tests: each type found in realistic text, checksums told apart, harmless look-alikes left alone."""

from __future__ import annotations

import pytest

from workprint.privacy.redact import Context, detect, redact_text
from workprint.privacy.redact.detectors.checksums import card_brand_ok, iban_ok, luhn_ok
from workprint.privacy.redact.types import NO_CONTEXT


def found(text: str, ctx: Context = NO_CONTEXT) -> list[tuple[str, str]]:
    return [(text[s.start : s.end], s.type) for s in detect(text, ctx)]


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("send it to jane.o'neil+work@example.co.uk please", "jane.o'neil+work@example.co.uk", "EMAIL"),
        ("ping müller@bücher.de", "müller@bücher.de", "EMAIL"),
        ("call me at +44 20 7946 0958", "+44 20 7946 0958", "PHONE"),
        ("office (415) 555-0132 x204", "(415) 555-0132 x204", "PHONE"),
        ("Tel: 0143045165", "0143045165", "PHONE"),
        ("card 4111 1111 1111 1111 exp 04/27", "4111 1111 1111 1111", "CARD"),
        ("mc 2221000000000009", "2221000000000009", "CARD"),  # Mastercard 2-series
        ("visa19 4607598386756508890", "4607598386756508890", "CARD"),  # 19 digits
        ("amex 3782-822463-10005", "3782-822463-10005", "CARD"),
        ("SSN: 078-05-1120", "078-05-1120", "SSN"),
        ("ssn 078051120", "078051120", "SSN"),
        ("IBAN: DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00", "IBAN"),
        ("wire to GB82WEST12345698765432 today", "GB82WEST12345698765432", "IBAN"),
        ("ssh admin@192.168.1.20", "192.168.1.20", "IP"),
        ("allow 10.0.0.0/8", "10.0.0.0/8", "IP"),
        ("host fe80::1ff:fe23:4567:890a", "fe80::1ff:fe23:4567:890a", "IP"),
        ("mac 00:1A:2B:3C:4D:5E", "00:1A:2B:3C:4D:5E", "MAC"),
        ("DOB: 03/12/1985", "03/12/1985", "DATE_OF_BIRTH"),
        ("I was born on August 24, 1995", "August 24, 1995", "DATE_OF_BIRTH"),
        ("ship to 1600 Pennsylvania Avenue NW, Washington, DC 20500",
         "1600 Pennsylvania Avenue NW, Washington, DC 20500", "ADDRESS"),
        ("Adresse: Löfflerstr. 62, 92246 Fürstenwalde", "Löfflerstr. 62, 92246 Fürstenwalde", "ADDRESS"),
        ("32, rue Vallet\n52786 Fernandez-les-Bains", "32, rue Vallet\n52786 Fernandez-les-Bains", "ADDRESS"),
        ("Dear Margaret Thompson,", "Margaret Thompson", "NAME"),
        ("Hi Guy, ready?", "Guy", "NAME"),
        ("From: Jörn Wagenknecht", "Jörn Wagenknecht", "NAME"),
    ],
)  # fmt: skip
def test_detector_finds_value_in_context(text: str, value: str, kind: str) -> None:
    assert (value, kind) in found(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("key AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
         "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),
        ("github_pat_11ABCDEFG0123456789abc_defghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV",
         "github_pat_11ABCDEFG0123456789abc_defghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV"),
        ("SLACK=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
         "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
        ("sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh"),
        ("sk-ant-api03-" + "Ab3d_Ef6h-Ij9k" * 7 + "AA", "sk-ant-api03-" + "Ab3d_Ef6h-Ij9k" * 7 + "AA"),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
         "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
        ("git clone https://bob:S3cr@t!x@github.com/acme/app.git", "bob:S3cr@t!x"),
        ('client_secret: "q8Zr2Lw9Xk3Tn7Vb"', "q8Zr2Lw9Xk3Tn7Vb"),
    ],
)  # fmt: skip
def test_credentials_are_found_whole(text: str, value: str) -> None:
    assert (value, "SECRET") in found(text)


def test_private_key_block_is_one_secret_even_unterminated() -> None:
    block = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
        "-----END OPENSSH PRIVATE KEY-----"
    )
    assert found(f"key:\n{block}\nthanks") == [(block, "SECRET")]
    partial = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1c7+"
    assert found(partial) == [(partial, "SECRET")]


def test_luhn_and_iban_checksums_separate_valid_from_one_digit_off() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert card_brand_ok("2720990000000007") and not card_brand_ok("2721000000000000"[:15])
    assert iban_ok("DE89370400440532013000") and not iban_ok("DE89370400440532013001")
    assert not iban_ok("DE8937040044053201300")  # wrong length for DE
    assert found("card 4111 1111 1111 1112") == []
    assert found("IBAN DE89 3704 0044 0532 0130 01") == []


@pytest.mark.parametrize(
    "text",
    [
        "git cherry-pick 3f786850e387550fdab836ed7e6dc881de23001b",
        "request id 123e4567-e89b-12d3-a456-426614174000",
        "bumped version to 2.14.3",
        "version 10.0.19045.2965",
        "SELECT id, created_at FROM orders WHERE total > 500 ORDER BY created_at DESC;",
        "meeting moved to 2026-03-05 at 14:00",
        "The quarterly review is on Monday; please bring the updated figures.",
        "ERROR 2026-10-14T14:20:00.651238 worker-7 timed out after 30s",
        "docker run -p 8080:80 nginx:1.25",
        "sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "password: ********",
    ],
)
def test_harmless_text_is_left_alone(text: str) -> None:
    assert found(text) == []


def test_password_after_prompt_and_in_login_forms() -> None:
    assert ("hunter22", "PASSWORD") in found("[sudo] password for alice: hunter22")
    login = Context(app="firefox", title="Sign in - Outlook")
    assert found("alice.smith\tS3cret!pw\n", login) == [("S3cret!pw", "PASSWORD")]
    # The same two fields in an ordinary window are just words.
    assert found("alice.smith\tS3cret!pw\n", Context(app="firefox", title="Notes")) == []
    term = Context(app="xterm", title="bob@laptop: ~")
    assert found("sudo apt upgrade\nTr0ub4dor&3\n", term) == [("Tr0ub4dor&3", "PASSWORD")]
    keyring = Context(app="gnome-keyring", title="Unlock Login Keyring")
    assert found("correcthorse", keyring) == [("correcthorse", "PASSWORD")]


def test_redact_text_uses_typed_placeholders() -> None:
    res = redact_text("mail bob@example.com, card 4111111111111111, from 10.1.2.3")
    assert res.text == "mail <EMAIL>, card <CARD>, from <IP>"
    assert [s.type for s in res.spans] == ["EMAIL", "CARD", "IP"]


def test_whole_form_fields_are_names_and_phones_only_in_forms() -> None:
    form = Context(app="firefox", title="Checkout - Shipping information")
    text = "Jules\tChevalier\tSave\t0636867834\n"
    assert found(text, form) == [("Jules\tChevalier", "NAME"), ("0636867834", "PHONE")]
    assert found(text, Context(app="code", title="notes.txt")) == [("Jules\tChevalier", "NAME")]


def test_public_api() -> None:
    import workprint.privacy.redact as redact

    assert sorted(redact.__all__) == sorted(
        ["TYPES", "Context", "KeyRedactor", "RedactionResult", "Span", "detect", "placeholder", "redact_logged",
         "redact_text"]
    )  # fmt: skip
    assert all(hasattr(redact, name) for name in redact.__all__)
