"""Participant commands on the device: consent, pause, resume, status and personal exclusions.

They work on the privacy state file (``$WORKPRINT_HOME/privacy.json``) alone, so they act without a server and
without a running agent; a running agent follows the file within ~50 ms (``privacy.watcher.StateWatcher``).
Expected errors print one line on stderr and exit 1, leaving the state unchanged.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from workprint.agent_status import read_agent_status
from workprint.cli.main import app
from workprint.config import AgentSettings
from workprint.errors import ConfigError, ConsentError, WorkprintError
from workprint.models import ALL_SCOPES, Scope
from workprint.privacy.durations import format_duration, parse_duration
from workprint.privacy.exclusions import RULE_KINDS
from workprint.privacy.notices import parse_scope
from workprint.privacy.state import DeviceState, load_state, record_consent, update_state
from workprint.privacy.watcher import recording_status, snapshot_of

consent_app = typer.Typer(no_args_is_help=True, help="See, give and withdraw consent, per kind of data (scope).")
exclude_app = typer.Typer(no_args_is_help=True, help="Your own exclusions: windows that are never recorded.")
app.add_typer(consent_app, name="consent")
app.add_typer(exclude_app, name="exclude")

T = TypeVar("T")


def _run(fn: Callable[[], T]) -> T:
    # One plain line (no rich wrapping), exit 1: the error names the field and the value. SystemExit, not
    # typer.Exit: main() runs click with standalone_mode=False, which turns Exit into a return value (status 0).
    try:
        return fn()
    except WorkprintError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def _send_receipts() -> None:
    # Tell the server at once when enrolled; offline is fine: the agent sends pending receipts before any segment.
    # Imported here: the network client is not needed by `pause`, whose start-up time counts toward its 1 s.
    from workprint.privacy.consent_sync import sync_now

    result = sync_now(AgentSettings().home)
    if result is None:
        return
    if result.sent:
        print("the server countersigned the receipt")
    for line in result.refused:
        print(f"warning: the server refused {line}", file=sys.stderr)
    if result.error:
        print(f"not sent to the server yet ({result.error}); it will be sent before any recording")


def _when(wall_ns: int) -> str:
    return dt.datetime.fromtimestamp(wall_ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _scopes(names: list[str], *, allow_all: bool) -> tuple[Scope, ...]:
    if allow_all and "all" in names:
        if len(names) > 1:
            raise ConsentError(f"scopes: 'all' cannot be combined with other scopes, got {' '.join(names)!r}")
        return ALL_SCOPES
    if not names:
        raise ConsentError("scopes: name at least one scope")
    return tuple(parse_scope(n) for n in names)


@consent_app.command("show")
def consent_show() -> None:
    """Show the program, its notice and your consent per scope."""
    state = _run(lambda: load_state(AgentSettings().home))
    p = state.program
    print(f"program {p.id}: {p.purpose}")
    print(
        f"notice version {p.notice.version}; data kept {p.retention_days} days; consent lasts {p.reconfirm_days} days"
    )
    print()
    print(p.notice.text)
    print()
    now = time.time_ns()
    for scope in ALL_SCOPES:
        print(f"  {scope:<14} {_consent_line(state, scope, now)}")


def _consent_line(state: DeviceState, scope: Scope, now: int) -> str:
    if scope not in state.program.scopes:
        return "not requested by this program"
    st = state.ledger.status(scope, now, state.notice_version)
    if st.active and st.expires_ns is not None:
        return f"granted (until {_when(st.expires_ns)}, then confirm again)"
    return f"not consented ({st.reason})"


@consent_app.command("grant")
def consent_grant(
    scopes: Annotated[list[str], typer.Argument(help=f"Scopes to grant ({', '.join(ALL_SCOPES)}) or 'all'")],
) -> None:
    """Read the notice and grant consent for some scopes; a signed receipt is kept on this device."""
    home = AgentSettings().home

    def go() -> None:
        state = load_state(home)
        chosen = state.program.scopes if scopes == ["all"] else _scopes(scopes, allow_all=False)
        print(state.program.notice.text)
        print()
        r = record_consent(home, "grant", chosen, time.time_ns())
        assert r.expires_ns is not None
        print(f"granted {', '.join(r.scopes)} under notice {r.notice_version} until {_when(r.expires_ns)}")
        print(f"receipt {r.receipt_id}")

    _run(go)
    _send_receipts()


@consent_app.command("withdraw")
def consent_withdraw(
    scopes: Annotated[list[str], typer.Argument(help=f"Scopes to withdraw ({', '.join(ALL_SCOPES)}) or 'all'")],
) -> None:
    """Withdraw consent: capture of these scopes stops at once and their unsent data is deleted."""
    home = AgentSettings().home

    def go() -> None:
        load_state(home)  # refuse to append to a state that does not verify
        r = record_consent(home, "withdraw", _scopes(scopes, allow_all=True), time.time_ns())
        print(f"withdrew {', '.join(r.scopes)}; receipt {r.receipt_id}")

    _run(go)
    _send_receipts()


@app.command()
def pause(
    duration: Annotated[
        str | None, typer.Argument(help="How long, e.g. 30s, 5m, 2h, 1h30m (default: until resume)")
    ] = None,
) -> None:
    """Pause recording now, for a while or until `workprint resume`."""
    home = AgentSettings().home

    def go() -> DeviceState:
        seconds = None if duration is None else parse_duration(duration)
        return update_state(home, lambda s: s.paused_for(time.time_ns(), seconds))

    state = _run(go)
    if state.pause.until_ns is None:
        print("paused until `workprint resume`")
    else:
        print(f"paused until {_when(state.pause.until_ns)}")


@app.command()
def resume() -> None:
    """Resume recording after a pause."""
    _run(lambda: update_state(AgentSettings().home, lambda s: s.resumed()))
    print("resumed")


@app.command()
def status() -> None:
    """Print whether each scope is recording, paused, excluded or not consented."""
    state = _run(lambda: load_state(AgentSettings().home))
    now = time.time_ns()
    snap = snapshot_of(state, now)
    excluded = _focused_excluded(state)
    overall = recording_status(snap, excluded)
    pause_text = "paused"
    if overall == "paused":
        until = snap.paused_until_ns
        pause_text = (
            "paused" if until is None else f"paused (until {_when(until)}, {format_duration((until - now) / 1e9)} left)"
        )
    print(pause_text if overall == "paused" else overall.replace("_", " "))
    for scope in ALL_SCOPES:
        if scope not in snap.consented:
            line = _consent_line(state, scope, now)
        elif overall == "paused":
            line = pause_text
        elif excluded:
            line = "excluded (the focused window is excluded)"
        else:
            line = "recording"
        print(f"  {scope:<14} {line}")
    agent = read_agent_status(AgentSettings().home)
    if agent is None:
        print("agent: not running")
    else:
        dropped = int(agent.get("frames_dropped_backlog", 0)) + int(agent.get("frames_dropped_redaction", 0))
        print(
            f"agent: pid {agent['pid']}, CPU {agent.get('cpu_percent', 0)} % of one core, "
            f"{agent.get('rss_mb', 0)} MB; frames waiting {agent.get('frames_waiting', 0)}, dropped {dropped} "
            f"({agent.get('frames_dropped_backlog', 0)} not redacted in time, "
            f"{agent.get('frames_dropped_redaction', 0)} failed redaction)"
        )
    print(_audit_line(AgentSettings().home))
    from workprint.device_claim import claim_line

    account = claim_line(AgentSettings().home)
    if account:
        print(account)


def _audit_line(home: Path) -> str:
    """What this device holds of the server's audit log: the newest checkpoint it checked, or why it stopped."""
    from workprint.audit.witness import DEVICE_FILE, device_problem, load_witnessed

    problem = device_problem(home)
    if problem:
        return f"server audit log: FAILED, {problem}"
    try:
        held = load_witnessed(home / DEVICE_FILE)
    except ConfigError as exc:
        return f"server audit log: {exc}"
    if held is None or held.latest is None:
        return "server audit log: not checked yet"
    cp = held.latest
    return f"server audit log: OK, checked against the checkpoint held here (size {cp.size}, {_when(cp.at_ns)})"


def _focused_excluded(state: DeviceState) -> bool:
    """Whether the window focused on $DISPLAY is excluded (False without a display)."""
    if not os.environ.get("DISPLAY"):
        return False
    try:
        from Xlib.display import Display

        from workprint.capture.window import WindowQuery

        d = Display()
    except Exception:  # no reachable display: nothing is being recorded there either
        return False
    try:
        q = WindowQuery(d)
        info = q.info(q.active_window())
        return info is not None and state.exclusion_rules().excluded(info.app, info.title)
    finally:
        d.close()


@exclude_app.command("add")
def exclude_add(
    kind: Annotated[str, typer.Argument(help=f"One of {', '.join(RULE_KINDS)}")],
    value: Annotated[str, typer.Argument(help="WM_CLASS, title regex or site text (none for 'private')")] = "",
) -> None:
    """Add a personal exclusion rule (rules only ever add exclusions)."""
    _run(lambda: update_state(AgentSettings().home, lambda s: s.with_exclusion({"kind": kind, "value": value})))
    print(f"excluded {kind} {value!r}" if value else f"excluded {kind} windows")


@exclude_app.command("list")
def exclude_list() -> None:
    """List every exclusion rule in force: defaults, your organisation's and yours."""
    state = _run(lambda: load_state(AgentSettings().home))
    rules = _run(state.exclusion_rules)
    for r in rules.rules:
        print(f"{r.source:<9} {r.describe()}")
