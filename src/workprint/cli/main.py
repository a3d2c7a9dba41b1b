"""The ``workprint`` command. Each group of commands lives in its own module and registers itself here."""

from __future__ import annotations

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


def _register() -> None:
    # Imported for their side effect of adding commands to ``app``.
    from workprint.cli import agent_cmds, audit_cmds, consent_cmds, dataset_cmds, redact_cmds, server_cmds  # noqa: F401


def main() -> None:
    """Entry point: expected errors become one line on stderr and exit status 1, never a traceback."""
    _register()
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
