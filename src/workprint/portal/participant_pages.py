"""Participant pages: recording state, consent, timeline and slideshow, erasure, the archive, accesses, devices."""

from __future__ import annotations

import base64
import io
import json

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from workprint.audit.witness import Witnessed
from workprint.errors import BadRequest, NotFound, SegmentError
from workprint.imaging import open_frame
from workprint.models import ALL_SCOPES
from workprint.portal import device_requests
from workprint.portal import participant_data as pdata
from workprint.portal.web import Viewer, api, form_of, page, require, viewer
from workprint.privacy.notices import DEFAULT_PROGRAM
from workprint.server.consent import consent_of

__all__ = ["router"]

router = APIRouter()

SCOPE_TEXT = {
    "keys": "Keys you press (typed secrets and names are redacted on your device)",
    "mouse": "Mouse clicks, drags and scrolls",
    "screenshots": "A screenshot before each action (redacted on your device)",
    "window_titles": "The titles of the windows you use",
    "app_names": "The names of the applications you use",
}


def _me(request: Request) -> Viewer:
    v = viewer(request)
    require(v, "participant", "participant pages")
    if v.principal.participant_id is None:
        raise BadRequest("account: not linked to a participant")
    return v


def _thumb(data: bytes, width: int) -> str | None:
    """A data: URI of the frame scaled to ``width`` pixels (JPEG), so a page holds no links to raw frames; None for
    a frame that cannot be shown (unreadable, or more pixels than any screen: refused before decoding)."""
    try:
        with open_frame(data) as src:
            im = src.convert("RGB")
    except (SegmentError, OSError, ValueError):
        return None
    if im.width > width:
        im = im.resize((width, max(1, im.height * width // im.width)))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def _program_scopes(request: Request) -> tuple[str, ...]:
    """The scopes the current program requests (the only ones a participant is offered to grant)."""
    return tuple(str(s) for s in consent_of(api(request)).notice()["program"]["scopes"])


def _consent_rows(request: Request, pid: str) -> tuple[list[dict[str, object]], str, str]:
    """One row per scope the program requests, and per other scope still granted (offered only to withdraw)."""
    service = consent_of(api(request))
    version = service.current_notice()
    ledger = service.ledger(pid)
    now = api(request).now()
    requested = _program_scopes(request)
    rows = []
    for scope in ALL_SCOPES:
        st = ledger.status(scope, now, version)
        if scope in requested or st.active:
            rows.append({"scope": scope, "text": SCOPE_TEXT[scope], "active": st.active, "reason": st.reason,
                         "requested": scope in requested})  # fmt: skip
    from sqlalchemy import select

    from workprint.store.consent_tables import consent_notices

    with api(request).metadata.engine.connect() as conn:
        q = select(consent_notices.c.text).where(consent_notices.c.version == version)
        text = conn.execute(q.order_by(consent_notices.c.seq.desc())).scalars().first()
    if text is None and version == DEFAULT_PROGRAM.notice.version:
        text = DEFAULT_PROGRAM.notice.text  # no steward has published one: the program's built-in notice
    return rows, version, text or f"Notice version {version} (its text was not published through this server)."


@router.get("/portal/me")
def recording(request: Request) -> Response:
    v = _me(request)
    pid = v.principal.participant_id
    assert pid is not None
    a = api(request)
    recs = a.access.my_segments(v.principal)
    last_control = ""
    if recs:
        latest = max(recs, key=lambda r: r.wall_end_ns)
        s = pdata.open_own(a, v.principal, latest)
        for e in reversed(s.events if s is not None else ()):
            if e.KIND == "control" and getattr(e, "kind", "") in ("pause", "resume"):
                last_control = getattr(e, "kind", "")
                break
    ctx = {"requests": device_requests.pending(a, pid, 5), "last_control": last_control,
           "last_upload": max((r.received_at for r in recs), default=0)}  # fmt: skip
    return page(request, "me.html", v, ctx)


@router.post("/portal/me/recording")
async def set_recording(request: Request) -> Response:
    form = await form_of(request)
    v = _me(request)
    kind = str(form.get("action") or "")
    if kind not in ("pause", "resume"):
        raise BadRequest(f"action: expected pause or resume, got {kind!r}")
    assert v.principal.participant_id is not None
    await run_in_threadpool(device_requests.queue, api(request), v.principal.actor, v.principal.participant_id, kind)
    return RedirectResponse("/portal/me", status_code=303)


@router.get("/portal/me/consent")
def consent(request: Request) -> Response:
    v = _me(request)
    assert v.principal.participant_id is not None
    rows, version, text = _consent_rows(request, v.principal.participant_id)
    reqs = device_requests.pending(api(request), v.principal.participant_id, 10)
    return page(request, "consent.html", v, {"rows": rows, "version": version, "notice": text, "requests": reqs})


@router.post("/portal/me/consent")
async def set_consent(request: Request) -> Response:
    form = await form_of(request)
    v = _me(request)
    action, scope = str(form.get("action") or ""), str(form.get("scope") or "")
    if action not in ("grant", "withdraw"):
        raise BadRequest(f"action: expected grant or withdraw, got {action!r}")
    assert v.principal.participant_id is not None
    a = api(request)
    requested = await run_in_threadpool(_program_scopes, request)
    if action == "grant" and scope not in requested:
        # Withdrawing stays open for every scope; granting only for what the program asks for.
        raise BadRequest(
            f"scope: {scope!r} is not requested by the current program (it requests {', '.join(requested)})"
        )
    await run_in_threadpool(device_requests.queue, a, v.principal.actor, v.principal.participant_id, action, (scope,))
    return RedirectResponse("/portal/me/consent", status_code=303)


@router.get("/portal/me/timeline")
def timeline(request: Request) -> Response:
    v = _me(request)
    sessions = pdata.timeline(api(request), v.principal)
    shown = {fid: _thumb(b, 240) for s in sessions for e in s.episodes for fid, b in e.frames.items()}
    thumbs = {fid: uri for fid, uri in shown.items() if uri is not None}
    return page(request, "timeline.html", v, {"sessions": sessions, "thumbs": thumbs})


@router.get("/portal/me/timeline/{session}/{episode}/{step}")
def slide(request: Request, session: str, episode: int, step: int) -> Response:
    v = _me(request)
    views = pdata.timeline(api(request), v.principal, session)
    eps = views[0].episodes
    if not 0 <= episode < len(eps) or not 0 <= step < len(eps[episode].actions):
        raise NotFound(f"step {episode}/{step}: not in this session")
    ep = eps[episode]
    action = ep.actions[step]
    img = _thumb(ep.frames[action.frame_id], 1024) if action.frame_id in ep.frames else None
    ctx = {"s": views[0], "ep": ep, "step": step, "action": action, "img": img, "n": len(ep.actions)}
    return page(request, "slide.html", v, ctx)


def _int(form_value: object, field: str) -> int:
    try:
        return int(str(form_value))
    except ValueError:
        raise BadRequest(f"{field}: expected a whole number, got {str(form_value)[:40]!r}") from None


@router.post("/portal/me/timeline/erase")
async def erase(request: Request) -> Response:
    form = await form_of(request)
    v = _me(request)
    session, what = str(form.get("session") or ""), str(form.get("what") or "")
    if what not in ("action", "episode"):
        raise BadRequest(f"what: expected action or episode, got {what!r}")
    t0, t1 = _int(form.get("t_start"), "t_start"), _int(form.get("t_end"), "t_end")
    await run_in_threadpool(pdata.erase_range, api(request), v.principal, session, t0, t1, what)
    return RedirectResponse("/portal/me/timeline", status_code=303)


@router.post("/portal/me/timeline/delete-quarantined")
async def delete_quarantined(request: Request) -> Response:
    form = await form_of(request)
    v = _me(request)
    await run_in_threadpool(pdata.delete_quarantined, api(request), v.principal, str(form.get("segment") or ""))
    return RedirectResponse("/portal/me/timeline", status_code=303)


@router.get("/portal/me/data")
def data(request: Request) -> Response:
    v = _me(request)
    recs = api(request).access.my_segments(v.principal)
    sessions = sorted({(r.session, r.wall_start_ns) for r in recs}, key=lambda x: x[1])
    return page(request, "data.html", v, {"segments": recs, "sessions": sessions, "form": {}, "errors": {}})


@router.post("/portal/me/data/erase-range")
async def erase_range(request: Request) -> Response:
    import datetime as dt

    form = await form_of(request)
    v = _me(request)
    a = api(request)
    start, end = str(form.get("start") or ""), str(form.get("end") or "")
    errors: dict[str, str] = {}
    parsed: dict[str, int] = {}
    for name, value in (("start", start), ("end", end)):
        try:
            parsed[name] = int(dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC).timestamp() * 1e9)
        except ValueError:
            errors[name] = f"{name}: expected a date and time like 2026-11-27T09:30, got {value!r}"
    if not errors and parsed["end"] < parsed["start"]:
        errors["end"] = f"end: {end} is before start {start}"
    recs = a.access.my_segments(v.principal)
    if errors:
        sessions = sorted({(r.session, r.wall_start_ns) for r in recs}, key=lambda x: x[1])
        ctx = {"segments": recs, "sessions": sessions, "form": {"start": start, "end": end}, "errors": errors}
        return page(request, "data.html", v, ctx, status=400)
    await run_in_threadpool(pdata.erase_wall_range, a, v.principal, parsed["start"], parsed["end"])
    return RedirectResponse("/portal/me/data", status_code=303)


@router.post("/portal/me/data/erase-all")
async def erase_all(request: Request) -> Response:
    form = await form_of(request)
    v = _me(request)
    if form.get("confirm") != "erase":
        recs = api(request).access.my_segments(v.principal)
        sessions = sorted({(r.session, r.wall_start_ns) for r in recs}, key=lambda x: x[1])
        errors = {"confirm": "confirm: tick the box to confirm erasing everything"}
        return page(request, "data.html", v, {"segments": recs, "sessions": sessions, "form": {}, "errors": errors},
                    status=400)  # fmt: skip
    await run_in_threadpool(pdata.erase_all, api(request), v.principal)
    return RedirectResponse("/portal/me/data", status_code=303)


@router.post("/portal/me/data/archive")
async def download(request: Request) -> Response:
    await form_of(request)  # a POST, so the archive is never fetched by a link or prefetch
    v = _me(request)
    body = await run_in_threadpool(pdata.archive, api(request), v.principal)
    headers = {"content-disposition": 'attachment; filename="workprint-my-data.zip"'}
    return Response(body, media_type="application/zip", headers=headers)


@router.get("/portal/me/accesses")
def accesses(request: Request) -> Response:
    v = _me(request)
    a = api(request)
    proven = a.access.my_accesses(v.principal)
    grants = {g.id: g for g in a.access.my_grants(v.principal)}
    key = a.audit_log.verify_key
    rows = []
    own = 0
    for pe in proven:
        e = pe.entry
        if e.actor == v.principal.actor:
            own += 1
            continue
        gid = str(e.detail.get("grant_id") or (e.subject.split(":", 1)[1] if e.subject.startswith("grant:") else ""))
        g = grants.get(gid)
        user = a.identity.accounts.user(e.actor.split(":", 1)[1]) if e.actor.startswith("user:") else None
        role = ", ".join(r for r in user.roles if r != "participant") if user else e.actor.split(":", 1)[0]
        rows.append({"e": e, "role": role, "purpose": g.purpose if g else "", "grant": gid, "proof": pe.proof,
                     "index": pe.index, "root": pe.checkpoint.root, "size": pe.checkpoint.size,
                     "ok": pe.verifies(key)})  # fmt: skip
    head, _ = a.audit_log.head()
    return page(request, "accesses.html", v, {"rows": rows, "own": own, "key": bytes(key).hex(), "head": head})


@router.get("/portal/me/checkpoint.json")
def checkpoint_file(request: Request) -> Response:
    """The newest signed checkpoint as a file to keep: ``workprint audit verify --against`` holds the server to it."""
    _me(request)
    log = api(request).audit_log
    head, _ = log.head()
    body = Witnessed(bytes(log.verify_key).hex(), (head,)).to_dict()
    headers = {"content-disposition": 'attachment; filename="workprint-audit-checkpoint.json"'}
    return Response(json.dumps(body, indent=1), media_type="application/json", headers=headers)


@router.get("/portal/me/devices")
def devices(request: Request) -> Response:
    v = _me(request)
    return page(request, "devices.html", v, {"devices": pdata.own_devices(api(request), v.principal)})


@router.post("/portal/me/devices/revoke")
async def revoke(request: Request) -> Response:
    form = await form_of(request)
    v = _me(request)
    await run_in_threadpool(pdata.revoke_own_device, api(request), v.principal, str(form.get("device_id") or ""))
    return RedirectResponse("/portal/me/devices", status_code=303)
