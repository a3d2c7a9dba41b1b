"""``workprint admin add-user`` and ``workprint audit checkpoint``/``verify`` on a real store."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from workprint.cli.main import _register, app
from workprint.config import ServerSettings
from workprint.server.serve import build_api

_register([])


def _run(tmp_path: Path, *args: str, stdin: str = "") -> tuple[int, str]:
    r = CliRunner().invoke(app, list(args), input=stdin, env={"WORKPRINT_HOME": str(tmp_path)})
    return r.exit_code, r.output.strip()


def test_add_user_creates_an_account_that_signs_in_and_links_its_participant(tmp_path: Path, db_url: str) -> None:
    blobs = str(tmp_path / "b")
    status, out = _run(tmp_path, "admin", "add-participant", "Ada", "--db", db_url, "--blobs", blobs)
    pid = re.search(r"participant ([0-9a-f]{32})", out)
    assert status == 0 and pid, out
    args = ["admin", "add-user", "ada", "--role", "participant", "--participant", pid.group(1), "--password-stdin"]
    status, out = _run(tmp_path, *args, "--db", db_url, "--blobs", blobs, stdin="a long enough password\n")
    assert status == 0 and re.fullmatch(r"user ada \([0-9a-f]{32}\): participant", out), out
    bad = ["admin", "add-user", "eve", "--role", "manager", "--password-stdin", "--db", db_url, "--blobs", blobs]
    r = CliRunner().invoke(app, bad, input="a long enough password\n", env={"WORKPRINT_HOME": str(tmp_path)})
    assert r.exit_code == 1 and str(r.exception).startswith("roles: expected some of participant, steward")
    api = build_api(ServerSettings(home=tmp_path, db_url=db_url, blob_url=blobs))
    try:
        who = api.identity.principal_from_session(api.identity.login("ada", "a long enough password").token)
        assert who.participant_id == pid.group(1) and who.roles == {"participant"}
    finally:
        api.metadata.close()
    status, out = _run(tmp_path, "audit", "checkpoint", "--db", db_url)
    assert status == 0 and out.startswith("checkpoint: size 4, root "), out
    assert _run(tmp_path, "audit", "verify", "--db", db_url) == (
        0,
        "audit log: OK, 4 entries, 5 checkpoints consistent",
    )
