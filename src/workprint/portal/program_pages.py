"""The steward's Programs page: every published program version, and a form that publishes the next one.

A program (purpose, requested scopes, retention, notice text, organisation exclusion rules) is published together
with a new notice version (``ConsentService.publish_program``); devices adopt it with the notice and need fresh
consent. Exclusion rules are typed one per line as ``app:NAME``, ``title:REGEX``, ``site:DOMAIN`` or ``private:``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from workprint.errors import ConfigError, HTTPError
from workprint.models import ALL_SCOPES
from workprint.portal.web import Viewer, api, form_of, page, require, viewer
from workprint.privacy.exclusions import DEFAULT_RULES, RULE_KINDS, rule_from_dict
from workprint.privacy.notices import FRAME_FORMATS
from workprint.server.consent import consent_of

__all__ = ["MAX_RETENTION_DAYS", "parse_rule_lines", "router", "rule_lines"]

router = APIRouter()
MAX_RETENTION_DAYS = 3650
_FIELDS = ("purpose", "retention_days", "text", "rules", "frame_format")


def parse_rule_lines(text: str) -> list[dict[str, Any]]:
    """Rule dicts from ``kind:value`` lines (blank lines and ``#`` comments skipped); ``ConfigError`` names the line."""
    rules: list[dict[str, Any]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        kind, sep, value = line.partition(":")
        kind = kind.strip().lower()
        if not sep or kind not in RULE_KINDS:
            raise ConfigError(f"rules: line {n}: expected app:NAME, title:REGEX, site:DOMAIN or private:, got {line!r}")
        rule = {"kind": kind, "value": value.strip()}
        try:
            rule_from_dict(rule, "org")
        except ConfigError as exc:
            raise ConfigError(f"rules: line {n}: {exc}") from None
        rules.append(rule)
    return rules


def rule_lines(rules: Any) -> str:
    """The text form of rule dicts (the inverse of ``parse_rule_lines`` for rules without ``apps``)."""
    return "\n".join(f"{r['kind']}:{r.get('value', '')}" for r in rules)


def _steward(request: Request) -> Viewer:
    v = viewer(request)
    require(v, "steward", "steward pages")
    return v


def _page(request: Request, v: Viewer, form: Mapping[str, Any], errors: Mapping[str, str], status: int) -> Response:
    service = consent_of(api(request))
    ctx = {"programs": service.programs(), "current": service.notice(), "form": form, "errors": errors,
           "scopes": ALL_SCOPES, "defaults": DEFAULT_RULES, "max_days": MAX_RETENTION_DAYS,
           "frame_formats": FRAME_FORMATS}  # fmt: skip
    return page(request, "programs.html", v, ctx, status)


@router.get("/portal/steward/programs")
def programs(request: Request) -> Response:
    v = _steward(request)
    now = consent_of(api(request)).notice()
    p = now["program"]
    form = {"purpose": p["purpose"], "scopes": list(p["scopes"]), "retention_days": str(p["retention_days"]),
            "text": now["text"], "rules": rule_lines(p["exclusions"]),
            "frame_format": p.get("frame_format", "auto")}  # fmt: skip
    return _page(request, v, form, {}, 200)


def _check(form: Mapping[str, Any]) -> tuple[dict[str, str], list[dict[str, Any]], int]:
    """Field errors, the parsed rules and the retention (pure; the service checks again)."""
    errors: dict[str, str] = {}
    if not 1 <= len(form["purpose"].strip()) <= 2000:
        errors["purpose"] = f"purpose: expected 1 to 2000 characters, got {len(form['purpose'].strip())}"
    unknown = [s for s in form["scopes"] if s not in ALL_SCOPES]
    if not form["scopes"] or unknown:
        errors["scopes"] = f"scopes: choose at least one of {', '.join(ALL_SCOPES)}, got {form['scopes']!r}"
    days = 0
    try:
        days = int(form["retention_days"])
        if not 1 <= days <= MAX_RETENTION_DAYS:
            raise ValueError
    except ValueError:
        errors["retention_days"] = f"retention_days: expected 1 to {MAX_RETENTION_DAYS}, got {form['retention_days']!r}"
    if len(form["text"].strip()) < 20:
        errors["text"] = f"text: expected the notice's full text (at least 20 characters), got {len(form['text'])}"
    if form["frame_format"] not in FRAME_FORMATS:
        errors["frame_format"] = (
            f"frame_format: expected one of {', '.join(FRAME_FORMATS)}, got {form['frame_format']!r}"
        )
    rules: list[dict[str, Any]] = []
    try:
        rules = parse_rule_lines(form["rules"])
    except ConfigError as exc:
        errors["rules"] = str(exc)
    return errors, rules, days


@router.post("/portal/steward/programs")
async def publish(request: Request) -> Response:
    raw = await form_of(request)
    v = _steward(request)
    form: dict[str, Any] = {k: str(raw.get(k) or "") for k in _FIELDS}
    form["scopes"] = [str(s) for s in raw.getlist("scopes")]
    form["frame_format"] = form["frame_format"] or "auto"
    errors, rules, days = _check(form)
    if not errors:
        service = consent_of(api(request))
        try:
            await run_in_threadpool(lambda: service.publish_program(
                form["purpose"], form["scopes"], days, form["text"], rules, frame_format=form["frame_format"],
                actor=v.principal.actor))  # fmt: skip
        except HTTPError as exc:  # the service's own checks: name the field its message starts with
            head = exc.message.split(":", 1)[0].removeprefix("program.").split("[")[0]
            field = {"exclusions": "rules", "scope": "scopes"}.get(head, head)
            errors[field if field in (*_FIELDS, "scopes") else "purpose"] = exc.message
    if errors:
        return _page(request, v, form, errors, 400)
    return RedirectResponse("/portal/steward/programs", status_code=303)
