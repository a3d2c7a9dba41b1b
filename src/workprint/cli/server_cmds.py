"""CLI commands of the collection service: ``workprint server`` and ``workprint admin …``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from workprint.cli.main import app
from workprint.config import ServerSettings

if TYPE_CHECKING:
    from workprint.server.api import ServerAPI
    from workprint.server.identity import Principal
    from workprint.store.records import User

out = Console(highlight=False, soft_wrap=True)
admin = typer.Typer(no_args_is_help=True, help="Administer the collection service directly on its store.")
app.add_typer(admin, name="admin")

DbOption = Annotated[str, typer.Option("--db", help="SQLAlchemy URL (default: SQLite under $WORKPRINT_HOME/server)")]
BlobsOption = Annotated[str, typer.Option("--blobs", help="Blob directory or s3:// URL (default: local directory)")]


def _settings(db: str, blobs: str) -> ServerSettings:
    s = ServerSettings.from_env()
    return dataclasses.replace(s, db_url=db or s.db_url, blob_url=blobs or s.blob_url)


@contextmanager
def _store(db: str, blobs: str) -> Iterator[ServerAPI]:
    """The service's domain API straight on its store, closed when the command is done."""
    from workprint.server.serve import build_api

    api = build_api(_settings(db, blobs))
    try:
        yield api
    finally:
        api.metadata.close()


def _admin() -> Principal:
    """Who a local ``workprint admin`` command acts as (the operator at the server's console)."""
    from workprint.server.identity import Principal

    return Principal.system("admin-cli", "admin")


def _user(api: ServerAPI, username: str) -> User:
    from workprint.errors import NotFound

    user = api.identity.accounts.user_by_name(username.strip().lower())
    if user is None:
        raise NotFound(f"username {username!r}: no such account")
    return user


@app.command()
def server(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8470,
    db: DbOption = "",
    blobs: BlobsOption = "",
    access_log: Annotated[
        bool | None,
        typer.Option("--access-log/--no-access-log", help="One log line per request ($WORKPRINT_ACCESS_LOG; off)"),
    ] = None,
) -> None:
    """Run the collection service (one uvicorn process)."""
    import uvicorn

    from workprint.server.app import create_app
    from workprint.server.serve import build_api, uvicorn_config

    settings = _settings(db, blobs)
    if access_log is not None:
        settings = dataclasses.replace(settings, access_log=access_log)
    api = build_api(settings)
    out.print(
        f"workprint server on http://{host}:{port} (db {api.metadata.backend}, blobs {settings.resolved_blob_url()})"
    )
    from workprint.audit.log import start_checkpointer

    stop = start_checkpointer(api.audit_log, settings.checkpoint_interval_s)  # by default every 5 minutes
    try:
        runner = uvicorn.Server(uvicorn_config(create_app(api), host, port, access_log=settings.access_log))
        runner.run()
        if not runner.started:  # e.g. the port is taken: uvicorn has logged why
            raise SystemExit(3)
    finally:
        stop.set()
        api.audit_log.checkpoint(only_if_new=True)


@admin.command("add-participant")
def add_participant(
    name: Annotated[str, typer.Argument(help="The participant's name, as the admin knows them")],
    ttl_hours: Annotated[float, typer.Option(help="How long the enrolment code stays valid")] = 24.0,
    db: DbOption = "",
    blobs: BlobsOption = "",
) -> None:
    """Create a participant and print a one-time enrolment code for their device."""
    with _store(db, blobs) as api:
        pid = api.create_participant(name, actor="admin:cli")
        code = api.create_enrolment_code(pid, int(ttl_hours * 3600), actor="admin:cli")
    out.print(f"participant {pid}")
    out.print(f"enrolment code {code}  (single use, valid {ttl_hours:g} h, shown only now)")


@admin.command("erase-participant")
def erase_participant(
    participant_id: Annotated[str, typer.Argument(help="The participant to erase")],
    db: DbOption = "",
    blobs: BlobsOption = "",
) -> None:
    """Crypto-shred a participant: destroy their key (every copy of their segments becomes unreadable)."""
    with _store(db, blobs) as api:
        deleted = api.erase_participant(participant_id, actor="admin:cli")
    out.print(f"erased participant {participant_id}: key destroyed, {deleted} segment blobs deleted")


@admin.command("add-user")
def add_user(
    username: Annotated[str, typer.Argument(help="The account's sign-in name")],
    role: Annotated[list[str], typer.Option("--role", help="steward, researcher, auditor or admin")],
    participant: Annotated[str, typer.Option("--participant", help="Refused: participants claim their own")] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin")] = False,
    db: DbOption = "",
    blobs: BlobsOption = "",
) -> None:
    """Create a staff account; the password is prompted for (or read from stdin). Steward, auditor and admin roles
    wait for a second admin's approval, except the first admin of an empty database. Participants claim their own
    accounts with the code their device shows (``workprint status``)."""
    password = _password(password_stdin)
    with _store(db, blobs) as api:
        user = api.identity.add_user(_admin(), username, password, role, participant or None)
        pending = [g for g in api.identity.duties.role_grants(user.id) if g.approved_at is None]
    out.print(f"user {user.username} ({user.id}): {', '.join(user.roles) or 'no role yet'}")
    for g in pending:
        out.print(f"role {g.role} pending: role grant {g.id} awaits a second admin's approval")


def _password(from_stdin: bool, prompt: str = "password", confirm: bool = True) -> str:
    import sys

    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


@admin.command("approve-role")
def approve_role(
    grant_id: Annotated[str, typer.Argument(help="The role grant to approve (printed by add-user)")],
    as_user: Annotated[str, typer.Option("--as", help="The approving admin's username; signs in with its password")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin")] = False,
    db: DbOption = "",
    blobs: BlobsOption = "",
) -> None:
    """Approve a role as a second admin, signed in with that admin's own password (audited)."""
    password = _password(password_stdin, f"{as_user}'s password", confirm=False)
    with _store(db, blobs) as api:
        who = api.identity.principal_from_session(api.identity.login(as_user, password).token)
        g = api.identity.approve_role(who, grant_id)
    out.print(f"approved role {g.role} for user {g.user_id}")


@admin.command("recover-participant")
def recover_participant(
    participant_id: Annotated[str, typer.Argument(help="The participant whose account to reset")],
    db: DbOption = "",
    blobs: BlobsOption = "",
) -> None:
    """Revoke every credential of a participant's account and open a new claim; the code goes to the participant's
    device (``workprint status``), never to the admin. Audited and shown to the participant."""
    from workprint.server.claims import Claims

    with _store(db, blobs) as api:
        claim_id = Claims(api.identity).recover(_admin(), participant_id)
    out.print(f"recovery {claim_id}: old credentials revoked; the participant's device will show the new claim code")


@admin.command("list-tokens")
def list_tokens(
    username: Annotated[str, typer.Argument(help="The account whose API tokens to list")],
    db: DbOption = "",
    blobs: BlobsOption = "",
) -> None:
    """List an account's API tokens (id, name, state), to find the one to revoke."""
    with _store(db, blobs) as api:
        rows = api.identity.api_tokens(_admin(), _user(api, username).id)
    for r in rows:
        state = "revoked" if r.revoked_at is not None else "active"
        out.print(f"{r.id} {state} {r.name}")


@admin.command("revoke-token")
def revoke_token(
    token_id: Annotated[str, typer.Argument(help="The API token's id (from list-tokens), not its secret")],
    db: DbOption = "",
    blobs: BlobsOption = "",
) -> None:
    """Revoke an API token at once; audited."""
    with _store(db, blobs) as api:
        api.identity.revoke_api_token(_admin(), token_id)
    out.print(f"revoked api token {token_id}")


@admin.command("link-sso")
def link_sso(
    username: Annotated[str, typer.Argument(help="The existing account (e.g. a participant's) to sign in as")],
    subject: Annotated[str, typer.Argument(help="The provider's 'sub' for that person")],
    db: DbOption = "",
    blobs: BlobsOption = "",
) -> None:
    """Let a single sign-on subject (of WORKPRINT_OIDC_ISSUER) sign in as an existing account; audited."""
    from workprint.errors import ConfigError
    from workprint.server.oidc import OidcLogin, OidcSettings

    settings = OidcSettings.from_env()
    if settings is None:
        raise ConfigError("WORKPRINT_OIDC_ISSUER: required to link a single sign-on subject, got ''")
    with _store(db, blobs) as api:
        user = _user(api, username)
        OidcLogin(settings, api.identity).link(_admin(), user.id, subject)
    out.print(f"linked {settings.issuer} subject {subject!r} to user {user.username}")


@admin.command("rotate-keys")
def rotate_keys(db: DbOption = "", blobs: BlobsOption = "") -> None:
    """Rotate the key-encryption keys and re-wrap every participant key under their own newest key (no segment is
    re-encrypted); keys wrapped the old, shared way move to per-participant keys. Audited."""
    with _store(db, blobs) as api:
        n = api.rotate_keys(actor="system:admin-cli")
    out.print(f"rotated keys: {n} participant keys re-wrapped under {api.keys.key_id}")
