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


def test_add_user_creates_an_account_that_signs_in_and_roles_wait_for_a_second_admin(
    tmp_path: Path, db_url: str
) -> None:
    blobs = str(tmp_path / "b")
    args = ["admin", "add-user", "root", "--role", "admin", "--password-stdin", "--db", db_url, "--blobs", blobs]
    status, out = _run(tmp_path, *args, stdin="a long enough password\n")
    assert status == 0 and re.fullmatch(r"user root \([0-9a-f]{32}\): admin", out), out  # the first admin
    args = ["admin", "add-user", "ana", "--role", "steward", "--password-stdin", "--db", db_url, "--blobs", blobs]
    status, out = _run(tmp_path, *args, stdin="a long enough password\n")
    grant = re.search(r"role steward pending: role grant ([0-9a-f]{32})", out)
    assert status == 0 and grant, out
    args = ["admin", "approve-role", grant.group(1), "--as", "root", "--password-stdin", "--db", db_url,
            "--blobs", blobs]  # fmt: skip
    status, out = _run(tmp_path, *args, stdin="a long enough password\n")
    assert status == 0 and out.startswith("approved role steward for user "), out
    bad = ["admin", "add-user", "eve", "--role", "manager", "--password-stdin", "--db", db_url, "--blobs", blobs]
    r = CliRunner().invoke(app, bad, input="a long enough password\n", env={"WORKPRINT_HOME": str(tmp_path)})
    assert r.exit_code == 1 and str(r.exception).startswith("roles: expected some of participant, steward")
    api = build_api(ServerSettings(home=tmp_path, db_url=db_url, blob_url=blobs))
    try:
        who = api.identity.principal_from_session(api.identity.login("ana", "a long enough password").token)
        assert who.participant_id is None and who.roles == {"steward"}
    finally:
        api.metadata.close()
    status, out = _run(tmp_path, "audit", "checkpoint", "--db", db_url)
    assert status == 0 and out.startswith("checkpoint: size 5, root "), out
    assert _run(tmp_path, "audit", "verify", "--db", db_url) == (
        0,
        "audit log: OK, 5 entries, 6 checkpoints consistent",
    )
