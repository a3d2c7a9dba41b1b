"""Credentials, a rule set of gitleaks' class: provider tokens, JWTs and private keys whole, URL passwords, and
generic ``key = value`` assignments whose value looks random."""

from __future__ import annotations

import re

from workprint.privacy.redact.detectors.checksums import entropy
from workprint.privacy.redact.detectors.folding import finditer_folded
from workprint.privacy.redact.types import Context, Span

# Tokens recognisable by their own shape: no context needed. All but the webhook start at a word start; one
# lookbehind in front of them all, and a lookahead naming every first letter, let ``re`` skip ahead to a possible
# start (a ``\b`` per shape made it 5x slower).
_TOKEN = re.compile(
    r"(?=[AghnrsSxe])(?:(?<!\w)(?:"
    + "|".join(
        (
            r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b",  # AWS access key id
            r"gh[pousr]_[A-Za-z0-9]{30,255}\b",  # GitHub tokens
            r"github_pat_[A-Za-z0-9_]{22,255}\b",  # GitHub fine-grained token
            r"glpat-[A-Za-z0-9_-]{20,}\b",  # GitLab
            r"xox[abposre]-[A-Za-z0-9-]{10,}\b",  # Slack tokens
            r"sk-(?:ant-)?(?:[A-Za-z0-9]+-)*[A-Za-z0-9_-]{20,}\b",  # OpenAI / Anthropic
            r"[sr]k_(?:live|test)_[A-Za-z0-9]{10,}\b",  # Stripe secret / restricted keys
            r"AIza[0-9A-Za-z_-]{35}\b",  # Google API key
            r"npm_[A-Za-z0-9]{36}\b",  # npm
            r"SG\.[\w-]{16,32}\.[\w-]{30,50}\b",  # SendGrid
            r"hf_[A-Za-z0-9]{30,}\b",  # Hugging Face
            r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{8,}",  # JWT, whole
        )
    )
    + r")|https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,})"  # Slack webhook
)
# A private key block, whole; an unterminated block (typing, a truncated paste) is redacted to the end of the text.
_PEM = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
    r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.S,
)
# The password may itself hold "@": the userinfo runs to the last "@" before the host.
_URL_USERINFO = re.compile(
    r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://([^\s:/@]{1,64}:[^\s/]{1,128})@(?=[\w.-]+(?:[:/?#]|\s|$))"
)
# AWS secret access keys are 40 base64 characters; a 40-hex commit hash is not one (see _looks_random).
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
# Keyword first (a leading ``[\w.-]*`` made this the slowest rule by far); the key's prefix is found by scanning left.
# Lower case: matched against folded text (see folding.py).
_ASSIGN = re.compile(
    r"(?:secret|token|api[_-]?key|apikey|access[_-]?key|auth|credential|private[_-]?key|client[_-]?key"
    r"|passwd|password|pwd|pass)[\w.-]*[\"']?[ \t]*(?::=|=>|[:=])[ \t]*([\"']?)([^\s\"',;]{6,256})\1"
)
# The shortest text any token shape above can match (a Slack token, ``xoxb-`` and ten characters).
_SHORTEST_TOKEN = 15
_PLACEHOLDER_VALUE = re.compile(
    r"(?i)^(?:\$|\{|<|%|os\.|env|process\.|true|false|null|none|undefined|\*+|x+$|changeme)"
)


def _looks_random(value: str) -> bool:
    classes = sum((any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value)))
    return classes >= 2 and entropy(value) >= 3.0


def secrets(text: str, ctx: Context) -> list[Span]:
    """Provider tokens, JWTs, private key blocks, URL credentials, AWS secrets and random-looking assignments."""
    found: list[Span] = []
    if len(text) >= _SHORTEST_TOKEN:
        for m in _TOKEN.finditer(text):
            found.append(Span(m.start(), m.end(), "SECRET"))
    if "-----BEGIN" in text:
        for m in _PEM.finditer(text):
            found.append(Span(m.start(), m.end(), "SECRET"))
    if "://" in text:
        for m in _URL_USERINFO.finditer(text):
            found.append(Span(m.start(1), m.end(1), "SECRET"))
    if len(text) >= 40:
        for m in _AWS_SECRET.finditer(text):
            value = m.group()
            if _looks_random(value) and not all(c in "0123456789abcdefABCDEF" for c in value):
                found.append(Span(m.start(), m.end(), "SECRET"))
    if "=" not in text and ":" not in text:
        return found
    for m in finditer_folded(_ASSIGN, text):
        k = m.start()
        while k > 0 and (text[k - 1].isalnum() or text[k - 1] in "_.-"):
            k -= 1
        key, value = text[k : m.start(2)].lower(), text[m.start(2) : m.end(2)]
        if _PLACEHOLDER_VALUE.match(value) or "(" in value:
            continue
        if any(k in key for k in ("pass", "pwd")):
            found.append(Span(m.start(2), m.end(2), "PASSWORD"))
        elif _looks_random(value) or len(value) >= 20:
            found.append(Span(m.start(2), m.end(2), "SECRET"))
    return found
