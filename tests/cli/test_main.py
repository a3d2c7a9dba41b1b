"""The ``workprint`` command: every command is reachable through the lazy registration table."""

from __future__ import annotations

import subprocess
import sys

from workprint.cli import main as cli_main


def _registered() -> dict[str, str]:
    cli_main._register([])
    names: dict[str, str] = {}
    for cmd in cli_main.app.registered_commands:
        assert cmd.callback is not None
        name = cmd.name or cmd.callback.__name__.replace("_", "-")
        names[name] = cmd.callback.__module__.rsplit(".", 1)[-1]
    for group in cli_main.app.registered_groups:
        sub = group.typer_instance
        assert sub is not None and group.name
        modules = {c.callback.__module__.rsplit(".", 1)[-1] for c in sub.registered_commands if c.callback}
        assert len(modules) == 1, (group.name, modules)
        names[group.name] = modules.pop()
    return names


def test_every_command_is_in_the_table_under_the_module_that_adds_it() -> None:
    registered = _registered()
    registered.pop("version")
    assert registered == cli_main.COMMAND_MODULES


def test_pause_does_not_import_the_dataset_pipeline_or_the_server() -> None:
    code = (
        "import sys; from workprint.cli import main as m; m._register(['pause', '5m']); "
        "print(sorted(k for k in sys.modules if k.startswith(('workprint.dataset', 'workprint.server', 'pyarrow'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "workprint.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for name in cli_main.COMMAND_MODULES:
        assert name in out.stdout, name
