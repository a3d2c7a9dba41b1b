"""CLI commands for the audit log: ``workprint audit verify`` and ``workprint audit checkpoint``."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer
from rich.console import Console

from workprint.cli.main import app
from workprint.config import ServerSettings

out = Console(highlight=False, soft_wrap=True)
audit = typer.Typer(no_args_is_help=True, help="Verify and checkpoint the tamper-evident audit log.")
app.add_typer(audit, name="audit")

DbOption = Annotated[str, typer.Option("--db", help="SQLAlchemy URL (default: SQLite under $WORKPRINT_HOME/server)")]
KeyOption = Annotated[
    str,
    typer.Option("--key", help="Checkpoint public key (64 hex digits) or the signing key file (default: the server's)"),
]
KEY_FILE = "audit-signing.key"


def _settings(db: str) -> ServerSettings:
    s = ServerSettings.from_env()
    return dataclasses.replace(s, db_url=db or s.db_url)


@audit.command("verify")
def verify(db: DbOption = "", key: KeyOption = "") -> None:
    """Check every entry against every checkpoint and each checkpoint against the one before; exit 1 on a problem."""
    from workprint.audit.checkpoint import entry_bytes, verify_log
    from workprint.audit.log import read_checkpoints
    from workprint.audit.signing import load_verify_key
    from workprint.store.metadata import MetadataStore

    settings = _settings(db)
    verify_key = load_verify_key(key or str(settings.server_dir / KEY_FILE))
    store = MetadataStore(settings.resolved_db_url(), create=False)
    try:
        entries = [entry_bytes(e.to_dict()) for e in store.audit_entries()]
        result = verify_log(entries, read_checkpoints(store), verify_key)
    finally:
        store.close()
    if result.checkpoints == 0:
        out.print(f"audit log: FAILED, {result.entries} entries but no checkpoint to verify them against")
        raise typer.Exit(1)
    if not result.ok:
        out.print(f"audit log: FAILED, {len(result.problems)} problems; first: {result.problems[0]}")
        raise typer.Exit(1)
    out.print(f"audit log: OK, {result.entries} entries, {result.checkpoints} checkpoints consistent")


@audit.command("checkpoint")
def checkpoint(db: DbOption = "") -> None:
    """Sign a checkpoint of the log as it is now (the server also does this every 5 minutes)."""
    from workprint.audit.log import AuditLog
    from workprint.audit.signing import load_signing_key
    from workprint.store.metadata import MetadataStore

    settings = _settings(db)
    store = MetadataStore(settings.resolved_db_url())
    try:
        cp = AuditLog(store, load_signing_key(settings.server_dir / KEY_FILE)).checkpoint()
    finally:
        store.close()
    assert cp is not None
    out.print(f"checkpoint: size {cp.size}, root {cp.root}")
