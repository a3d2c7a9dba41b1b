"""CLI commands of the participant's device: enroll, record, upload, and the end-to-end demo."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from workprint.cli.main import app
from workprint.config import AgentSettings, read_secret
from workprint.device import DeviceRecord
from workprint.errors import ConfigError

out = Console()


@app.command()
def enroll(
    url: Annotated[str, typer.Argument(help="The collection server, e.g. https://workprint.example.org")],
    code: Annotated[
        str,
        typer.Argument(
            envvar="WORKPRINT_ENROLMENT_CODE",
            show_default=False,
            help="The one-time enrolment code you were given (better: $WORKPRINT_ENROLMENT_CODE or "
            "--code-file, out of other users' sight)",
        ),
    ] = "",
    code_file: Annotated[
        Path | None, typer.Option("--code-file", help="Read the enrolment code from this file ('-': stdin)")
    ] = None,
    device_name: Annotated[str, typer.Option(help="A name for this device")] = "workstation",
) -> None:
    """Enrol this device with a collection server using a one-time code."""
    from workprint.transport import enroll as do_enroll

    code = read_secret("--code", code, code_file)
    if not code:
        raise ConfigError("code: give the enrolment code in $WORKPRINT_ENROLMENT_CODE or with --code-file; none given")
    settings = AgentSettings.from_env()
    e = do_enroll(url, code, device_name)
    record = DeviceRecord(
        server_url=url.rstrip("/"),
        participant_id=e.participant_id,
        device_id=e.device_id,
        device_token=e.device_token,
        public_key=e.public_key,
        notice_version=e.notice_version,
    )
    record.save(settings.device_file)
    out.print(f"enrolled device {e.device_id} for participant {e.participant_id} at {url}")


@app.command()
def record(
    display: Annotated[str | None, typer.Option(help="X display to record (default: $DISPLAY)")] = None,
    duration: Annotated[float, typer.Option(help="Stop after this many seconds (0: until Ctrl-C)")] = 0.0,
) -> None:
    """Record this X display until Ctrl-C (or --duration), uploading sealed segments as they are made."""
    from workprint.agent import Agent

    settings = AgentSettings.from_env()
    device = DeviceRecord.load(settings.device_file)
    agent = Agent(settings, device, display=display)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    agent.start()
    out.print(f"recording session {agent.session} (Ctrl-C to stop)")
    stop.wait(duration or None)
    agent.stop()
    out.print(f"stopped; {agent.stats.admitted} events recorded, {agent.stats.segments_uploaded} segments uploaded")


@app.command()
def upload() -> None:
    """Upload every sealed segment waiting in the spool, once; exits non-zero if the server cannot be reached."""
    from workprint.errors import TransportError
    from workprint.privacy.consent_sync import ReceiptSync
    from workprint.spool import pending_count
    from workprint.transport import HttpTransport, upload_pending

    settings = AgentSettings.from_env()
    device = DeviceRecord.load(settings.device_file)
    with ReceiptSync(settings.home, device) as receipts:
        result = receipts.run()  # consent first: the server refuses segments whose consent it has not seen
    if not result.ok:
        raise TransportError(result.error)
    sent = upload_pending(settings.spool_dir, HttpTransport(device.server_url, device.device_token))
    out.print(f"uploaded {sent} segments; {pending_count(settings.spool_dir)} still waiting")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where the demo writes its home and dataset")] = Path(
        "demo-out"
    ),
) -> None:
    """Record a scripted session on a private X display and turn it into a dataset, end to end."""
    from workprint.demo.run import run_demo

    run_demo(out_dir, out)
