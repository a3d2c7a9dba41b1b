"""CLI commands of the dataset pipeline: ``workprint dataset build``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from workprint.cli.main import app
from workprint.errors import ConfigError
from workprint.segment import Segment

out = Console()
dataset_app = typer.Typer(no_args_is_help=True, help="Build training datasets from recorded segments.")
app.add_typer(dataset_app, name="dataset")


def open_segments(home: Path | None) -> Iterable[Segment]:
    """The opened segments of the collection server under ``home``, each decryption an audited read."""
    from workprint.config import ServerSettings
    from workprint.server.serve import build_api

    settings = ServerSettings.from_env()
    if home is not None:
        settings = ServerSettings(home=home, db_url=settings.db_url, blob_url=settings.blob_url)
    return build_api(settings).iter_segments("steward:cli")


@dataset_app.command("build")
def build(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write agentnet.jsonl and images/ into")],
    server_home: Annotated[
        Path | None, typer.Option("--server-home", help="The collection server's home (default: $WORKPRINT_HOME)")
    ] = None,
) -> None:
    """Reduce every recorded session to PyAutoGUI actions and write AgentNet-style JSONL with its frames."""
    from workprint.dataset.build import build_dataset

    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out: {str(out_dir)!r} exists and is not a directory")
    report = build_dataset(open_segments(server_home), out_dir)
    table = Table(title="dataset build", show_header=False)
    for name, value in (
        ("segments", report.segments),
        ("sessions", report.sessions),
        ("events", report.events),
        ("actions", report.actions),
        ("frames", report.frames),
        ("missing frames", report.missing_frames),
        ("episodes", report.episodes),
    ):
        table.add_row(name, str(value))
    out.print(table)
    # Paths on their own lines, unwrapped, so they can be copied.
    out.print(f"jsonl:  {report.jsonl_path}", soft_wrap=True, markup=False, highlight=False)
    out.print(f"images: {report.images_dir}", soft_wrap=True, markup=False, highlight=False)
    if report.first_actions:
        out.print("first actions:")
        for a in report.first_actions:
            out.print(f"  {a.to_pyautogui()}", soft_wrap=True, markup=False, highlight=False)


__all__ = ["dataset_app", "open_segments"]
