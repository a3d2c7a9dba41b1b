"""CLI commands for the audit log: ``workprint audit verify``, ``audit checkpoint`` and ``audit witness``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from workprint.cli.main import app
from workprint.config import ServerSettings

if TYPE_CHECKING:
    from nacl.signing import VerifyKey

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


AgainstOption = Annotated[
    Path | None,
    typer.Option(
        "--against",
        help="A checkpoint file kept outside the server (by 'audit witness' or a device): the log must extend it",
    ),
]


def _server_verify_key(settings: ServerSettings) -> VerifyKey:
    """The key the server signs with: Vault's Transit key in ``vault`` mode, else the key file (never created here)."""
    from workprint.audit.signing import load_verify_key

    if settings.audit_signer == "vault":
        from workprint.server.serve import audit_signer

        return audit_signer(settings).verify_key
    return load_verify_key(str(settings.server_dir / KEY_FILE))


@audit.command("verify")
def verify(db: DbOption = "", key: KeyOption = "", against: AgainstOption = None) -> None:
    """Check every entry against every checkpoint and each checkpoint against the one before; exit 1 on a problem.

    With ``--against FILE`` the log must also extend every checkpoint saved there, under the key saved there: a log
    rolled back, truncated, forked, edited or re-signed since (even consistently, with a new key) fails.
    """
    from workprint.audit.checkpoint import entry_bytes, verify_against, verify_log
    from workprint.audit.log import read_checkpoints
    from workprint.audit.signing import load_verify_key
    from workprint.audit.witness import load_witnessed
    from workprint.store.metadata import MetadataStore

    settings = _settings(db)
    witnessed = None
    if against is not None:
        witnessed = load_witnessed(against)
        if witnessed is None:
            out.print(f"--against: {against}: no such file")
            raise typer.Exit(2)
    verify_key = load_verify_key(key) if key else None
    if verify_key is None and witnessed is not None:
        verify_key = witnessed.verify_key  # the key the witness saw, not whatever sits beside the database now
    if verify_key is None:
        verify_key = _server_verify_key(settings)
    store = MetadataStore(settings.resolved_db_url(), create=False)
    try:
        entries = [entry_bytes(e.to_dict()) for e in store.audit_entries()]
        result = verify_log(entries, read_checkpoints(store), verify_key)
    finally:
        store.close()
    problems = list(result.problems)
    if witnessed is not None:
        problems += verify_against(entries, witnessed.checkpoints, witnessed.verify_key, log_key=verify_key)
    if result.checkpoints == 0:
        out.print(f"audit log: FAILED, {result.entries} entries but no checkpoint to verify them against")
        raise typer.Exit(1)
    if problems:
        out.print(f"audit log: FAILED, {len(problems)} problems; first: {problems[0]}")
        raise typer.Exit(1)
    extra = f", extends the {len(witnessed.checkpoints)} witnessed" if witnessed is not None else ""
    out.print(f"audit log: OK, {result.entries} entries, {result.checkpoints} checkpoints consistent{extra}")


@audit.command("witness")
def witness(
    server: Annotated[str, typer.Option("--server", help="The collection server's URL")],
    file: Annotated[Path, typer.Option("--file", help="Where the witnessed checkpoints are kept (JSON)")],
    key: Annotated[
        str, typer.Option("--key", help="The server's checkpoint public key (64 hex digits), needed the first time")
    ] = "",
) -> None:
    """Fetch the server's newest checkpoint, check it extends the ones in FILE, and add it there; exit 1 if not.

    Run it from outside the server (an auditor's machine, a scheduled job elsewhere): the file then holds the server
    to its history, and ``workprint audit verify --against FILE`` checks the database against it. The first run
    trusts the key given with ``--key`` (compare it with the one published at enrolment); later runs the saved one.
    """
    from workprint.audit.witness import Witnessed, advance, load_witnessed, parse_head, save_witnessed
    from workprint.errors import AuditMismatch, ConfigError, TransportError
    from workprint.transport.http import check_base_url, fetch_audit_head

    base = check_base_url(server)
    held = load_witnessed(file)
    if held is None and not key:
        out.print(f"--key: needed the first time (no checkpoints in {file} yet); see {base}/v1/audit/public-key")
        raise typer.Exit(2)
    try:
        body = fetch_audit_head(base, held.size if held is not None else 0, timeout=30)
    except TransportError as exc:
        out.print(str(exc))
        raise typer.Exit(1) from None
    try:
        key_hex, cp, proof = parse_head(body)
        if held is None and key_hex != key.strip().lower():
            raise AuditMismatch(f"audit log: the server signs with {key_hex[:16]}…, not the --key given")
        updated = advance(held or Witnessed(key_hex), key_hex, cp, proof)
    except (AuditMismatch, ConfigError, ValueError) as exc:
        out.print(f"audit witness: FAILED, {exc}")
        raise typer.Exit(1) from None
    save_witnessed(file, updated)
    out.print(f"audit witness: OK, size {cp.size}, root {cp.root[:16]}…, {len(updated.checkpoints)} checkpoints held")


@audit.command("checkpoint")
def checkpoint(db: DbOption = "") -> None:
    """Sign a checkpoint of the log as it is now (the server also does this every 5 minutes)."""
    from workprint.audit.log import AuditLog
    from workprint.server.serve import audit_signer
    from workprint.store.metadata import MetadataStore

    settings = _settings(db)
    store = MetadataStore(settings.resolved_db_url())
    try:
        cp = AuditLog(store, audit_signer(settings)).checkpoint()  # the server's signer: the key file or Vault
    finally:
        store.close()
    assert cp is not None
    out.print(f"checkpoint: size {cp.size}, root {cp.root}")
