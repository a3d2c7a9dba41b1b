"""The ``workprint`` command. Each group of commands lives in its own module and registers itself here."""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from workprint.errors import WorkprintError

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="workprint: consent-first recording of computer use."
)
err = Console(stderr=True)


@app.callback()
def _root() -> None:
    """workprint: consent-first recording of computer use."""


# The module that adds each top-level command. ``workprint pause`` then imports only what pausing needs, so it
# acts well within a second even on a slow machine; help and unknown words import them all.
COMMAND_MODULES: dict[str, str] = {
    "enroll": "agent_cmds",
    "record": "agent_cmds",
    "upload": "agent_cmds",
    "demo": "agent_cmds",
    "audit": "audit_cmds",
    "consent": "consent_cmds",
    "exclude": "consent_cmds",
    "pause": "consent_cmds",
    "resume": "consent_cmds",
    "status": "consent_cmds",
    "dataset": "dataset_cmds",
    "import": "dataset_cmds",
    "redact": "redact_cmds",
    "redact-image": "redact_cmds",
    "server": "server_cmds",
    "admin": "server_cmds",
}


def _register(argv: list[str] | None = None) -> None:
    """Import the command modules (for their side effect of adding commands to ``app``) that ``argv`` needs."""
    first = next((a for a in argv or [] if not a.startswith("-")), "")
    if first == "version":
        return
    modules = [COMMAND_MODULES[first]] if first in COMMAND_MODULES else sorted(set(COMMAND_MODULES.values()))
    for name in modules:
        importlib.import_module(f"workprint.cli.{name}")


def main() -> None:
    """Entry point: expected errors become one line on stderr and exit status 1, never a traceback."""
    _register(sys.argv[1:])
    try:
        code = app(standalone_mode=False)
    except WorkprintError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:
        # typer vendors click; its usage errors and exits carry ``exit_code`` (and ``show`` for usage errors).
        code = getattr(exc, "exit_code", None)
        if not isinstance(code, int):
            raise
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        sys.exit(code)
    # Without standalone mode click returns the code of ``typer.Exit`` instead of exiting with it.
    if isinstance(code, int) and code:
        sys.exit(code)


@app.command()
def version() -> None:
    """Print workprint's version."""
    from workprint import __version__

    print(__version__)
