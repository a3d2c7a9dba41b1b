"""Secrets stay out of process arguments: every secret option has an environment variable and a file (or stdin)
alternative, and the README's examples use those, never a token or code on the command line."""

from __future__ import annotations

import inspect
import io
import re
import shlex
from pathlib import Path
from typing import get_args

import pytest

from cli_helpers import run
from workprint.cli import main as cli_main
from workprint.config import ServerSettings, read_secret
from workprint.errors import ConfigError
from workprint.server.serve import build_api, serve_in_thread, stop_server

README = Path(__file__).resolve().parents[2] / "README.md"
SECRET = re.compile(r"token|code|password|secret", re.IGNORECASE)


def _commands() -> list[list[str]]:
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", README.read_text(), re.DOTALL)
    lines = [line.split(" #", 1)[0] for block in blocks for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.strip().startswith("workprint ")]


def test_readme_examples_never_put_a_secret_in_process_arguments() -> None:
    commands = _commands()
    assert any(c[:2] == ["workprint", "enroll"] for c in commands)
    for words in commands:
        for word in words:
            name = word.split("=", 1)[0]
            if name.startswith("--") and SECRET.search(name) and not name.endswith(("-file", "-stdin")):
                pytest.fail(f"README: {' '.join(words)!r} passes {name} on the command line")
            assert not re.search(r"\$\{?WORKPRINT_\w*(TOKEN|CODE)", word), f"README: {' '.join(words)!r} expands {word}"
        if words[:2] == ["workprint", "enroll"]:
            positional = [w for w in words[2:] if not w.startswith("-")]
            assert len(positional) <= 2 and "--code-file" in words, words  # the URL and --code-file's file


def test_every_secret_option_can_come_from_the_environment_and_from_a_file() -> None:
    cli_main._register([])
    commands = [*cli_main.app.registered_commands]
    for group in cli_main.app.registered_groups:
        assert group.typer_instance is not None
        commands += group.typer_instance.registered_commands
    checked = []
    for cmd in commands:
        assert cmd.callback is not None
        params = inspect.signature(cmd.callback, eval_str=True).parameters
        for name, p in params.items():
            info = next((a for a in get_args(p.annotation)[1:] if hasattr(a, "envvar")), None)
            if info is None or not SECRET.search(name) or name.endswith(("_file", "_stdin", "_id")):
                continue  # not a secret: a file holding one, a flag, an id
            checked.append(name)
            assert info.envvar, f"{cmd.callback.__name__}: {name} has no environment variable"
            assert f"{name}_file" in params, f"{cmd.callback.__name__}: {name} has no --…-file alternative"
    assert {"code", "token", "device_token"} <= set(checked)


def test_read_secret_takes_the_first_line_of_a_file_or_stdin_and_names_a_bad_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "token"
    f.write_text("wpt_abc \nignored\n")
    assert read_secret("--token", "from-env", f) == "wpt_abc"  # the file wins over the environment
    assert read_secret("--token", " from-env\n", None) == "from-env"
    monkeypatch.setattr("sys.stdin", io.StringIO("wpt_piped\n"))
    assert read_secret("--token", "", Path("-")) == "wpt_piped"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match=r"^--token-file: '.*empty' holds no secret \(its first line is empty\)$"):
        read_secret("--token", "", tmp_path / "empty")
    with pytest.raises(ConfigError, match=r"^--token-file: cannot read '.*missing' \(No such file or directory\)$"):
        read_secret("--token", "", tmp_path / "missing")


def test_enroll_reads_the_code_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = build_api(ServerSettings(home=tmp_path / "server", db_url=f"sqlite:///{tmp_path / 'm.db'}"))
    server, thread, url = serve_in_thread(api)
    try:
        pid = api.create_participant("Ada")
        code_file = tmp_path / "code.txt"
        code_file.write_text(api.create_enrolment_code(pid) + "\n")
        monkeypatch.setenv("WORKPRINT_HOME", str(tmp_path / "laptop"))
        monkeypatch.delenv("WORKPRINT_ENROLMENT_CODE", raising=False)
        assert run(monkeypatch, "enroll", url, "--code-file", str(code_file)) == 0, capsys.readouterr()
        assert (tmp_path / "laptop" / "device.json").exists()
        monkeypatch.setenv("WORKPRINT_HOME", str(tmp_path / "desktop"))
        monkeypatch.setenv("WORKPRINT_ENROLMENT_CODE", api.create_enrolment_code(pid))
        assert run(monkeypatch, "enroll", url) == 0, capsys.readouterr()
        assert (tmp_path / "desktop" / "device.json").exists()
        monkeypatch.delenv("WORKPRINT_ENROLMENT_CODE")
        capsys.readouterr()
        assert run(monkeypatch, "enroll", url) == 1
        refusal = " ".join(capsys.readouterr().err.split())
        assert "code: give the enrolment code in $WORKPRINT_ENROLMENT_CODE or with --code-file" in refusal
    finally:
        stop_server(server, thread)
        api.metadata.close()
