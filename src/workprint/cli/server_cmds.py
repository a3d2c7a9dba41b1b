"""CLI commands of the collection service: ``workprint server`` and ``workprint admin …``."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer
from rich.console import Console

from workprint.cli.main import app
from workprint.config import ServerSettings

out = Console(highlight=False, soft_wrap=True)
admin = typer.Typer(no_args_is_help=True, help="Administer the collection service directly on its store.")
app.add_typer(admin, name="admin")

DbOption = Annotated[str, typer.Option("--db", help="SQLAlchemy URL (default: SQLite under $WORKPRINT_HOME/server)")]
BlobsOption = Annotated[str, typer.Option("--blobs", help="Blob directory or s3:// URL (default: local directory)")]


def _settings(db: str, blobs: str) -> ServerSettings:
    s = ServerSettings.from_env()
    return dataclasses.replace(s, db_url=db or s.db_url, blob_url=blobs or s.blob_url)


@app.command()
def server(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8470,
    db: DbOption = "",
    blobs: BlobsOption = "",
) -> None:
    """Run the collection service (one uvicorn process)."""
    import uvicorn

    from workprint.server.app import create_app
    from workprint.server.serve import build_api

    settings = _settings(db, blobs)
    api = build_api(settings)
    out.print(
        f"workprint server on http://{host}:{port} (db {api.metadata.backend}, blobs {settings.resolved_blob_url()})"
    )
    uvicorn.run(create_app(api), host=host, port=port, log_level="info", lifespan="off")


@admin.command("add-participant")
def add_participant(
    name: Annotated[str, typer.Argument(help="The participant's name, as the admin knows them")],
    ttl_hours: Annotated[float, typer.Option(help="How long the enrolment code stays valid")] = 24.0,
    db: DbOption = "",
    blobs: BlobsOption = "",
) -> None:
    """Create a participant and print a one-time enrolment code for their device."""
    from workprint.server.serve import build_api

    api = build_api(_settings(db, blobs))
    pid = api.create_participant(name, actor="admin:cli")
    code = api.create_enrolment_code(pid, int(ttl_hours * 3600), actor="admin:cli")
    api.metadata.close()
    out.print(f"participant {pid}")
    out.print(f"enrolment code {code}  (single use, valid {ttl_hours:g} h, shown only now)")


@admin.command("erase-participant")
def erase_participant(
    participant_id: Annotated[str, typer.Argument(help="The participant to erase")],
    db: DbOption = "",
    blobs: BlobsOption = "",
) -> None:
    """Crypto-shred a participant: destroy their key (every copy of their segments becomes unreadable)."""
    from workprint.server.serve import build_api

    api = build_api(_settings(db, blobs))
    try:
        deleted = api.erase_participant(participant_id, actor="admin:cli")
    finally:
        api.metadata.close()
    out.print(f"erased participant {participant_id}: key destroyed, {deleted} segment blobs deleted")
