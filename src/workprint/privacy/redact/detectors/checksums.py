"""Checksums and validators of structured identifiers (pure)."""

from __future__ import annotations

import math
import re
from collections import Counter

# IBAN length per country (ISO 13616 registry); a candidate of another length is not an IBAN.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


_DIGIT = re.compile(r"\d")


def has_digit(text: str) -> bool:
    """True when ``text`` holds a digit (``\\d``: any Unicode decimal digit)."""
    return _DIGIT.search(text) is not None


def digit_count(text: str) -> int:
    """How many digits ``text`` holds, as ``\\d`` counts them: ``detect`` skips detectors that need more."""
    return sum(map(str.isdecimal, text)) if has_digit(text) else 0


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` (only 0-9) passes the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_brand_ok(digits: str) -> bool:
    """True when the length and issuer prefix (IIN) belong to a current card network."""
    n = len(digits)
    if not 12 <= n <= 19:
        return False
    p2, p4, p6 = int(digits[:2]), int(digits[:4]), int(digits[:6])
    return (
        (digits[0] == "4" and n in (13, 16, 19))  # Visa
        or (51 <= p2 <= 55 and n == 16)  # Mastercard
        or (2221 <= p4 <= 2720 and n == 16)  # Mastercard 2-series
        or (p2 in (34, 37) and n == 15)  # American Express
        or ((digits.startswith("6011") or digits[:2] == "65" or 644 <= int(digits[:3]) <= 649) and 16 <= n <= 19)
        or (622126 <= p6 <= 622925 and 16 <= n <= 19)  # Discover / UnionPay co-brand
        or (digits[:2] == "62" and 16 <= n <= 19)  # UnionPay
        or (digits[:2] == "35" and 16 <= n <= 19)  # JCB (3528-3589 issued; 35xx kept to be safe)
        or ((digits.startswith("2131") or digits.startswith("1800")) and n == 15)  # JCB 15-digit
        or ((300 <= int(digits[:3]) <= 305 or p2 in (36, 38, 39)) and 14 <= n <= 19)  # Diners Club
        or (2200 <= p4 <= 2204 and 16 <= n <= 19)  # Mir
        or ((p2 == 50 or 56 <= p2 <= 69) and 12 <= n <= 19)  # Maestro
    )


def iban_ok(compact: str) -> bool:
    """True when ``compact`` (no spaces, upper case) has its country's length and passes ISO 7064 mod-97."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    moved = compact[4:] + compact[:4]
    value = 0
    for ch in moved:
        value = (value * (100 if ch.isalpha() else 10) + (ord(ch) - 55 if ch.isalpha() else ord(ch) - 48)) % 97
    return value == 1


def entropy(s: str) -> float:
    """Shannon entropy of ``s`` in bits per character."""
    if not s:
        return 0.0
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())
