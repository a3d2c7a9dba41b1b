"""Detectors of structured identifiers: e-mail, phone, card, SSN, IBAN, IP, MAC (compiled regexes + validators)."""

from __future__ import annotations

import ipaddress
import re

from workprint.privacy.redact.detectors.checksums import card_brand_ok, has_digit, iban_ok, luhn_ok
from workprint.privacy.redact.detectors.folding import search_folded
from workprint.privacy.redact.types import Context, Span

# Starts only where a run of local-part characters starts: without the lookbehind every position inside a word was
# tried, each running to the word's end before failing (quadratic in the word's length).
_EMAIL = re.compile(r"(?<![\w.%+'-])[\w.%+'-]+@(?:[\w-]+\.)+[A-Za-z]{2,24}\b")


def emails(text: str, ctx: Context) -> list[Span]:
    """E-mail addresses (unicode local parts and domains)."""
    found: list[Span] = []
    if "@" not in text:
        return found
    for m in _EMAIL.finditer(text):
        s = m.start()
        while s < m.end() and text[s] in ".'-":
            s += 1
        ws = max(text.rfind(" ", 0, s), text.rfind("\n", 0, s))
        if "://" in text[ws + 1 : s]:
            continue  # "https://user:p@ss@host": the secrets rule owns URL credentials; the host is not a mailbox
        found.append(Span(s, m.end(), "EMAIL"))
    return found


# A pattern that opens with a lookbehind or \b makes ``re`` try it at every position; a leading lookahead naming the
# possible first characters lets it skip ahead to one (same matches, 20-40 % faster).
_CARD = re.compile(r"(?=\d)(?<![\d.-])\d(?:[ -]?\d){11,18}(?![\d])")


def cards(text: str, ctx: Context) -> list[Span]:
    """Payment card numbers: 12-19 digits (spaces or dashes allowed), Luhn valid, known issuer prefix."""
    found: list[Span] = []
    for m in _CARD.finditer(text):
        raw = m.group()
        digits = raw.replace(" ", "").replace("-", "")
        if luhn_ok(digits) and card_brand_ok(digits):
            found.append(Span(m.start(), m.end(), "CARD"))
    return found


_SSN = re.compile(r"(?=\d)(?<![\d-])(?!000|666|9\d\d)\d{3}([- ]?)(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
# Cues are lower case, searched in folded text (see folding.py).
_SSN_CUE = re.compile(r"\b(?:ssn|social security|soc\.? sec|tax ?id|tin)\b")


def ssns(text: str, ctx: Context) -> list[Span]:
    """US social security numbers: ``123-45-6789`` anywhere; bare nine digits only after an SSN cue."""
    found: list[Span] = []
    for m in _SSN.finditer(text):
        if m.group(1) or search_folded(_SSN_CUE, text, max(0, m.start() - 40), m.start()):
            found.append(Span(m.start(), m.end(), "SSN"))
    return found


_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){11,30}\b")


def ibans(text: str, ctx: Context) -> list[Span]:
    """IBANs: country length and mod-97 checked; spaces in groups allowed; trailing words are trimmed off."""
    found: list[Span] = []
    for m in _IBAN.finditer(text):
        raw = m.group()
        # The greedy match may run into the next word ("DE89... IBAN"); try shorter ends at group boundaries.
        for end in range(len(raw), 14, -1):
            if end < len(raw) and raw[end] != " ":
                continue
            compact = raw[:end].replace(" ", "").upper()
            if iban_ok(compact):
                found.append(Span(m.start(), m.start() + end, "IBAN"))
                break
    return found


_V4 = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.]){_V4}(?:\.{_V4}){{3}}(?:/\d{{1,2}})?(?![\w]|\.\d)")
_VERSION_CUE = re.compile(r"\b(?:v|version|ver\.?|release|build)\s*$")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,8}(?:[0-9A-Fa-f]{1,4}|:|" + _V4 + r"(?:\." + _V4 + r"){3})"
                   r"(?:%\w+)?(?:/\d{1,3})?(?![\w:])")  # fmt: skip


def ips(text: str, ctx: Context) -> list[Span]:
    """IPv4 (not after a version cue) and IPv6 (validated by ``ipaddress``) addresses, with an optional prefix."""
    found: list[Span] = []
    if "." in text and has_digit(text):
        for m in _IPV4.finditer(text):
            if not search_folded(_VERSION_CUE, text, max(0, m.start() - 12), m.start()):
                found.append(Span(m.start(), m.end(), "IP"))
    if text.count(":") < 2:
        return found  # an IPv6 address has at least two colons
    for m in _IPV6.finditer(text):
        addr = m.group().split("/")[0].split("%")[0]
        if sum(c not in ":." for c in addr) < 3:
            continue
        end = m.end()
        if not _valid_v6(addr):
            # "fe80::1:5432": an address with a port glued on; redact the address part
            head, _, port = addr.rpartition(":")
            if not (port.isdigit() and _valid_v6(head)):
                continue
            end = m.start() + len(head)
        found.append(Span(m.start(), end, "IP"))
    return found


def _valid_v6(addr: str) -> bool:
    try:
        ipaddress.IPv6Address(addr)
    except ValueError:
        return False
    return True


_MAC = re.compile(
    r"(?=[0-9A-Fa-f])(?:(?<![\w:-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![\w:-])"
    r"|(?<![\w.])[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}(?![\w.]))"
)


def macs(text: str, ctx: Context) -> list[Span]:
    """MAC addresses: six pairs joined by ``:`` or ``-``, or Cisco's three dotted quads."""
    found: list[Span] = []
    if ":" not in text and "-" not in text and "." not in text:
        return found
    for m in _MAC.finditer(text):
        found.append(Span(m.start(), m.end(), "MAC"))
    return found


_PHONE = re.compile(
    r"(?<![\w@/.+:-])(?:\+|\b00)?\(?\d[\d \t().\-/]{5,22}\d(?:[ \t]?(?:x|ext\.?|#)[ \t]?\d{1,6})?(?![\w@/]|\.\d|-\d)"
)
_PHONE_CUE = re.compile(
    r"(?:phone|tel|mobile|cell|fax|call|ring|whatsapp|sms|text|contact|number|no\.|reach|dial)"
    r"(?:\s+(?:me|us|him|her|them))?(?:\s+(?:at|on))?\W*$"
)
_NOT_PHONE_CUE = re.compile(r"\b(?:isbn|issn|doi|order|invoice|ticket|case|ref|id)\b\W*$")
_DATE_LIKE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$|^\d{4}-\d{2}-\d{2}")
_EXT = re.compile(r"[ \t]?(?:x|ext\.?|#)[ \t]?\d{1,6}$")


def phones(text: str, ctx: Context) -> list[Span]:
    """Phone numbers in national and international formats (7-15 digits; bare digit runs need a cue)."""
    found: list[Span] = []
    for m in _PHONE.finditer(text):
        raw = m.group()
        body = _EXT.sub("", raw)
        digits = sum(c.isdigit() for c in body)
        if not 7 <= digits <= 15 or _DATE_LIKE.match(body) or body.count("(") != body.count(")"):
            continue
        if search_folded(_NOT_PHONE_CUE, text, max(0, m.start() - 12), m.start()):
            continue
        intl = raw.startswith("+") or (raw.startswith("00") and raw[2:3] in "123456789" and digits >= 10)
        has_sep = any(c in " -.()/\t" for c in body.strip("()"))
        shaped = (intl and digits >= 8) or (has_sep and digits >= 9)
        dotted = body.count(".") == 3 and "-" not in body and " " not in body  # an IP or a version, unless cued
        if (shaped and not dotted) or search_folded(_PHONE_CUE, text, max(0, m.start() - 24), m.start()):
            found.append(Span(m.start(), m.end(), "PHONE"))
    return found
