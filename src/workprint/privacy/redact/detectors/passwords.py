"""Passwords typed where a password is asked for: after a ``password:`` prompt, in a login window's secret field,
and on the terminal line after a command that prompts for one (``sudo``, ``ssh``...)."""

from __future__ import annotations

import re
from functools import lru_cache

from workprint.privacy.redact.detectors.folding import finditer_folded
from workprint.privacy.redact.types import Context, Span

_LOGIN = re.compile(
    r"(?i)log ?in|sign ?in|sign-in|signin|password|passphrase|passwd|sudo|\bssh\b|unlock|authenticat|keyring|"
    r"credentials|\bpin\b|anmeld|connexion|iniciar sesi|accedi|2fa|one-time|mot de passe|kennwort|contraseña"
)
_PASSWORD_ONLY = re.compile(r"(?i)password|passphrase|passwd|sudo|unlock|keyring|\bpin\b|kennwort|mot de passe")
_TERMINALS = re.compile(
    r"(?i)term|xterm|konsole|tilix|alacritty|kitty|urxvt|rxvt|\bst\b|terminator|wezterm|foot|guake|tmux|screen|"
    r"putty|shell|bash|zsh|ssh"
)
_PROMPTING = re.compile(
    r"^\s*(?:\S+@\S+[:~][^$#]*[$#]\s*|\$\s*|#\s*)?(?:sudo\b|su\b|doas\b|ssh\b|sftp\b|scp\b|passwd\b|kinit\b|login\b|"
    r"mysql\b.*\s-p\s*$|psql\b|mysql\b.*-p\b|git push\b|git clone\b|docker login\b|gpg\b|pass\b|ansible.*-K|"
    r"openssl\b.*pass|veracrypt|cryptsetup|ldapsearch\b.*-W|sudo\s)"
)
# "Password: x", "[sudo] password for alice: x", "my password is x", "pw: x" (lower case: see folding.py)
_PROMPT = re.compile(
    r"(?=[pkmcs])(?:\b(?:password|passwd|passphrase|pass ?code|passcode|pwd|pw|pin|kennwort|passwort|mot de passe|"
    r"contraseña|senha)\b(?:[ \t]+for[ \t]+[^:\n]{1,40})?(?:[ \t]*[:=][ \t]*|[ \t]+is[ \t]+|[ \t]+was[ \t]+))"
    r"([^\s\"']{3,128})"
)
_NOT_PASSWORD = re.compile(r"(?i)^(?:\*+|•+|x+|required|incorrect|reset|changed|expired|manager|policy|field|"
                           r"please|the|a|an|is|was|for|and|to|not|of|in|on|hint|again|\.+)$")  # fmt: skip
_EMAIL_OR_USER = re.compile(r"^[\w.+-]+(?:@[\w-]+(?:\.[\w-]+)+)?$")


# A window's app and title repeat for every snippet typed in it: its cues are worked out once.
@lru_cache(maxsize=1024)
def _login_window(app: str, title: str) -> bool:
    return bool(_LOGIN.search(app) or _LOGIN.search(title))


@lru_cache(maxsize=1024)
def _password_window(app: str, title: str) -> bool:
    return bool(_PASSWORD_ONLY.search(title) or _PASSWORD_ONLY.search(app))


@lru_cache(maxsize=1024)
def _terminal_app(app: str) -> bool:
    return bool(_TERMINALS.search(app))


def login_context(ctx: Context) -> bool:
    """True when the window (app or title) asks for credentials."""
    return _login_window(ctx.app, ctx.title)


def is_terminal(ctx: Context) -> bool:
    """True for terminal emulators (by WM_CLASS or title)."""
    return _terminal_app(ctx.app)


def prompted(text: str, ctx: Context) -> list[Span]:
    """The word after a password prompt or statement in the text itself."""
    found: list[Span] = []
    for m in finditer_folded(_PROMPT, text):
        value = text[m.start(1) : m.end(1)].rstrip(".,;)")
        if not _NOT_PASSWORD.match(value):
            found.append(Span(m.start(1), m.start(1) + len(value), "PASSWORD"))
    return found


def password_field(field: str, ctx: Context, ended_by: str = "") -> bool:
    """True when a whole typed field is a password, judged from the window, the field before it and the key that
    ended it (a first field left with Tab is a user name)."""
    value = field.strip()
    if not value or " " in value or len(value) > 128 or len(value) < 3:
        return False
    if is_terminal(ctx):
        # A terminal asks after a prompting command and Enter; the next line is the secret.
        return ctx.previous_boundary == "Return" and bool(_PROMPTING.search(ctx.previous_field))
    if not login_context(ctx):
        return False
    prev = ctx.previous_field.strip()
    if prev and _EMAIL_OR_USER.match(prev) and ctx.previous_boundary in ("Tab", "Return", "Click"):
        return True  # the field after a user name
    if prev:
        return False
    # The first field: a user name unless the window only asks for a password.
    looks_user = bool(_EMAIL_OR_USER.match(value)) and (value.islower() or "@" in value)
    if ended_by == "Tab" and looks_user:
        return False
    only_password = _password_window(ctx.app, ctx.title)
    return (only_password and "@" not in value) or (not looks_user and _strong(value))


def _strong(value: str) -> bool:
    classes = sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() for c in value),
        )
    )
    return classes >= 3 and len(value) >= 6
