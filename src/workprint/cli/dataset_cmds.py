"""CLI commands of the dataset pipeline: ``workprint dataset build``, ``request-purge`` and ``purge-pending``."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from workprint.cli.main import app
from workprint.config import read_secret
from workprint.dataset.consent import Consented
from workprint.dataset.executors import EXECUTORS, Executor
from workprint.dataset.source import SegmentSource
from workprint.errors import ConfigError
from workprint.store.lineage_tables import LineageStore

if TYPE_CHECKING:
    from workprint.dataset.purge import PurgeRequest, PurgeResult
    from workprint.server.consent import ConsentService
    from workprint.store.consent_tables import ErasureRequest

out = Console()
err = Console(stderr=True)
dataset_app = typer.Typer(no_args_is_help=True, help="Build training dataset releases from recorded segments.")
app.add_typer(dataset_app, name="dataset")

HomeOpt = Annotated[
    Path | None, typer.Option("--server-home", help="The collection server's home (default: $WORKPRINT_HOME)")
]
ExecutorOpt = Annotated[str, typer.Option("--executor", help="local (in process) or ray (Ray Data)")]


def open_source(
    home: Path | None, actor: str, grant_id: str | None = None, token: str | None = None
) -> tuple[SegmentSource, LineageStore | None]:
    """The collection server's segments (each decryption an audited read) and its lineage tables.

    With ``token`` (a steward's API token) the reads go through the server's access rules under ``grant_id``;
    without, they are the operator's own reads as ``actor`` (the erasure rebuild), audited all the same.
    """
    from workprint.config import ServerSettings
    from workprint.dataset.source import ServerSource

    settings = ServerSettings.from_env()
    if home is not None:
        settings = dataclasses.replace(settings, home=home)  # every other setting from the environment
    source = ServerSource(settings, actor, grant_id=grant_id, token=token)
    return source, LineageStore(source.api.metadata.engine)


def _executor(name: str) -> Executor:
    for e in EXECUTORS:
        if e == name:
            return e
    raise ConfigError(f"--executor: expected one of {', '.join(EXECUTORS)}, got {name!r}")


def _ledger_consent(source: SegmentSource) -> Consented:
    """Consent as the server's ledger holds it now: scopes consented over each segment's range, not withdrawn."""
    import time

    from workprint.dataset.consent import LedgerConsent
    from workprint.dataset.source import ServerSource
    from workprint.server.consent import consent_of

    assert isinstance(source, ServerSource)
    return LedgerConsent(consent_of(source.api).ledger, time.time_ns())


def _consent_service(source: SegmentSource) -> ConsentService:
    from workprint.dataset.source import ServerSource
    from workprint.server.consent import consent_of

    assert isinstance(source, ServerSource)
    return consent_of(source.api)


def _server_erasure_requests(
    source: SegmentSource, lineage: LineageStore
) -> tuple[list[ErasureRequest], list[PurgeRequest]]:
    """The server's open erasure requests, and the partial withdrawals among them as purge requests.

    Every withdrawal is first carried out on the raw segments (the withdrawn scopes are cut out of what was recorded
    before it). A withdrawal of every scope, and a deletion in the portal (already cut out of the raw segments by
    the portal), become lineage purge requests, kept there until done with their time for the deadline: the
    participant leaves every release. A partial withdrawal is handed to the purge as it is, so the rebuild keeps the
    participant's other scopes; it stays open on the server until the purge is done.
    """
    from workprint.dataset.purge import PurgeRequest, erase_withdrawn_scopes
    from workprint.dataset.source import ServerSource

    assert isinstance(source, ServerSource)
    service = _consent_service(source)
    withdrawals = {r.id for r in service.withdrawals()}
    open_requests = [r for r in service.erasure_requests() if r.done_at is None]
    partial = []
    for req in open_requests:
        request = PurgeRequest(req.participant_id, req.requested_at, frozenset(req.scopes))
        if req.id in withdrawals:
            erase_withdrawn_scopes(source.api, request, actor="steward:purge")
        if request.full or req.id not in withdrawals:
            lineage.request_purge(req.participant_id, req.requested_at)
        else:
            partial.append(request)
    return open_requests, partial


def _default_out(home: Path | None) -> str:
    from workprint.config import ServerSettings

    return str((home or ServerSettings.from_env().home) / "releases")


@dataset_app.command("build")
def build(
    release: Annotated[str, typer.Option("--release", help="Release id (a new version is built each time)")] = "main",
    out_dir: Annotated[
        str | None, typer.Option("--out", help="Directory or s3:// URL of releases (default: HOME/releases)")
    ] = None,
    server_home: HomeOpt = None,
    executor: ExecutorOpt = "local",
    k: Annotated[int, typer.Option("--k", help="Keep titles and app names shared by at least k participants")] = 5,
    min_actions: Annotated[int, typer.Option("--min-actions", help="Drop episodes with fewer actions")] = 2,
    grant: Annotated[str, typer.Option("--grant", help="The approved grant the reads are made under")] = "",
    token: Annotated[
        str, typer.Option("--token", envvar="WORKPRINT_API_TOKEN", help="Your API token (steward who requested it)")
    ] = "",
    token_file: Annotated[
        Path | None, typer.Option("--token-file", help="Read your API token from this file ('-': stdin)")
    ] = None,
) -> None:
    """Build a new version of a release: Parquet, WebDataset shards, AgentNet JSONL, datasheet and manifest."""
    from dataclasses import replace

    from workprint.dataset.release import ReleaseOptions, build_release

    location = out_dir or _default_out(server_home)
    if not location.startswith("s3://") and Path(location).exists() and not Path(location).is_dir():
        raise ConfigError(f"--out: {location!r} exists and is not a directory")
    base = ReleaseOptions()
    opts = ReleaseOptions(
        replace(base.episodes, min_actions=min_actions), k=k, executor=_executor(executor), progress=out.is_terminal
    )
    if not grant:
        raise ConfigError("--grant: raw data is read only under a grant approved by a second steward; none given")
    token = read_secret("--token", token, token_file)
    if not token:
        raise ConfigError(
            "--token: the requesting steward's API token is needed ($WORKPRINT_API_TOKEN or --token-file); none given"
        )
    source, lineage = open_source(server_home, "steward:cli", grant, token)
    report = build_release(source, location, release, options=opts, lineage=lineage, consented=_ledger_consent(source))
    table = Table(title=f"release {report.release_id} v{report.version}", show_header=False)
    for name in ("segments", "sessions", "events", "actions", "episodes", "steps", "frames", "participants"):
        table.add_row(name, str(getattr(report, name)))
    table.add_row("duplicates removed", str(report.duplicates))
    table.add_row("segments skipped", str(len(report.skipped)))
    out.print(table)
    out.print(f"release: {report.location}", soft_wrap=True, markup=False, highlight=False)
    for s in report.skipped:
        err.print(f"skipped segment {s.segment_id}: {s.error}", soft_wrap=True, markup=False, highlight=False)
    if report.skipped:
        raise typer.Exit(code=2)


@dataset_app.command("request-purge")
def request_purge(
    participant: Annotated[str, typer.Argument(help="Participant id whose examples must leave every release")],
    server_home: HomeOpt = None,
) -> None:
    """Record a withdrawal: the participant's examples leave every release at the next purge-pending."""
    import time

    _, lineage = open_source(server_home, "steward:cli")
    assert lineage is not None
    lineage.request_purge(participant, time.time_ns())
    out.print(f"purge requested for {participant}", markup=False, highlight=False)


@dataset_app.command("purge-pending")
def purge_pending_cmd(
    server_home: HomeOpt = None,
    deadline_days: Annotated[
        float | None, typer.Option("--deadline-days", help="Deadline (default $WORKPRINT_PURGE_DEADLINE_DAYS or 7)")
    ] = None,
    executor: ExecutorOpt = "local",
) -> None:
    """Rebuild every release holding erased or withdrawn participants without what they took back; purge old files.

    An erasure or a full withdrawal removes the participant; a partial withdrawal removes only those scopes.
    """
    from workprint.dataset.purge import purge_pending

    days = deadline_days if deadline_days is not None else float(os.environ.get("WORKPRINT_PURGE_DEADLINE_DAYS", 7))
    if days <= 0:
        raise ConfigError(f"--deadline-days: expected a positive number, got {days!r}")
    source, lineage = open_source(server_home, "steward:purge")
    assert lineage is not None
    erasures, partial = _server_erasure_requests(source, lineage)
    results = purge_pending(
        lineage,
        source,
        withdrawals=partial,
        deadline_ns=int(days * 86_400e9),
        executor=_executor(executor),
        consented=_ledger_consent(source),
    )
    for r in results:
        out.print(_purge_line(r), markup=False, soft_wrap=True)
    done = {r.participant_id for r in results}
    for req in erasures:
        if req.participant_id in done or not lineage.active_holding(req.participant_id):
            _consent_service(source).mark_erasure_done(req.id, actor="steward:purge")
    out.print(f"{len(results)} purge request(s) processed", markup=False)
    if any(r.overdue for r in results):
        raise typer.Exit(code=3)


def _purge_line(r: PurgeResult) -> str:
    state = "OVERDUE" if r.overdue else "in time"
    versions = ", ".join(f"{rid} v{v}" for rid, v in r.purged) or "none held"
    rebuilt = ", ".join(f"{x.release_id} v{x.version}" for x in r.rebuilt) or "-"
    what = "" if r.full else f" without {', '.join(r.scopes)}"
    return f"{r.participant_id}: purged {versions}; rebuilt {rebuilt}{what} ({state})"


__all__ = ["dataset_app", "open_source"]


@app.command("import")
def import_recording(
    recording: Annotated[Path, typer.Argument(help="A DuckTrack or AgentNetTool recording directory (events.jsonl)")],
    device_token: Annotated[
        str, typer.Option("--device-token", envvar="WORKPRINT_DEVICE_TOKEN", help="Token of the participant's device")
    ] = "",
    device_token_file: Annotated[
        Path | None, typer.Option("--device-token-file", help="Read the device token from this file ('-': stdin)")
    ] = None,
    server_home: HomeOpt = None,
    session: Annotated[
        str | None, typer.Option("--session", help="Session name (default: a hash of events.jsonl)")
    ] = None,
) -> None:
    """Import a recording as the device's participant: privacy gate, sealed segments, consent-checked ingest.

    Wall times are rebased to end now: the participant's consent must cover the import, not the past recording.
    Importing the same recording again stores nothing new (its session is named by the hash of its events).
    """
    import hashlib
    import time

    from workprint.config import ServerSettings
    from workprint.importers import gate_and_segment, read_recording
    from workprint.segment import seal, segment_id
    from workprint.server.consent import consent_of
    from workprint.server.serve import build_api

    if not recording.is_dir():
        raise ConfigError(f"recording: {str(recording)!r} is not a directory")
    device_token = read_secret("--device-token", device_token, device_token_file)
    if not device_token:
        raise ConfigError("--device-token: give it in $WORKPRINT_DEVICE_TOKEN or with --device-token-file; none given")
    settings = ServerSettings.from_env()
    if server_home is not None:
        settings = dataclasses.replace(settings, home=server_home)
    api = build_api(settings)
    device = api.authenticate_device(device_token)
    participant = api.participant(device.participant_id)
    rec = read_recording(recording)
    duration = rec.events[-1].t_ns - rec.events[0].t_ns if rec.events else 0
    name = session or "import-" + hashlib.sha256((recording / "events.jsonl").read_bytes()).hexdigest()[:16]
    held = {(r.session, r.seq) for r in api.metadata.segments(participant.id)}
    segs = gate_and_segment(
        rec, participant.id, name, device=device.id,
        notice_version=consent_of(api).current_notice(), wall0_ns=time.time_ns() - duration - 1_000_000_000,
    )  # fmt: skip
    stored = 0
    for s in segs:
        if (s.header.session, s.header.seq) in held:
            continue  # sealing is randomised, so the content hash alone would not catch a re-import
        data = seal(s.header, s.events, s.frames, participant.public_key)
        stored += api.ingest(device, segment_id(data), data) == "stored"
    events = sum(len(s.events) for s in segs)
    frames = sum(len(s.frames) for s in segs)
    out.print(f"imported {events} events, {frames} frames in {len(segs)} segments ({stored} new)", markup=False)
