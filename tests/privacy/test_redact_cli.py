"""The ``workprint redact`` JSON-lines contract, bad lines included, through the real command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CMD = [sys.executable, "-c", "from workprint.cli.main import main; main()"]


def run(stdin: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CMD, *args], input=stdin, capture_output=True, timeout=60, check=False)


def line(obj: object) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def test_good_lines_get_spans_in_input_coordinates_covering_deleted_characters() -> None:
    text = "mail jonh\bhn@example.com\b\b\bcom now"
    proc = run(line({"id": "a1", "text": text, "context": {"app": "Thunderbird", "title": "Write"}}), "redact")
    assert proc.returncode == 0, proc.stderr
    (out,) = [json.loads(x) for x in proc.stdout.decode().splitlines()]
    assert out == {
        "id": "a1",
        "spans": [{"start": 5, "end": text.index(" now"), "type": "EMAIL"}],
        "text": "mail <EMAIL> now",
    }


def test_login_context_from_the_line_is_used() -> None:
    proc = run(
        line({"id": 7, "text": "bob\tSummer2024!\n", "context": {"app": "firefox", "title": "Sign in"}}), "redact"
    )
    assert json.loads(proc.stdout)["text"] == "bob\t<PASSWORD>\n"


def test_bad_lines_are_reported_by_number_and_good_lines_still_processed() -> None:
    big = b'{"id": 9, "text": "' + b"a" * (10 * 1024 * 1024) + b'"}\n'
    stdin = b"".join(
        [
            line({"id": 1, "text": "ssn 078-05-1120"}),
            b"{not json\n",
            line({"id": 3}),
            b'{"id": 4, "text": "caf\xe9"}\n',
            big,
            line({"id": 6, "text": "ok", "context": {"app": 5}}),
            line({"id": 7, "text": "ip 10.1.2.3"}),
        ]
    )
    proc = run(stdin, "redact")
    assert proc.returncode == 1
    outs = [json.loads(x) for x in proc.stdout.decode().splitlines()]
    assert [(o["id"], o["text"]) for o in outs] == [(1, "ssn <SSN>"), (7, "ip <IP>")]
    errors = proc.stderr.decode().splitlines()
    assert errors == [
        "error: line 2: invalid JSON (Expecting property name enclosed in double quotes at column 2)",
        "error: line 3: text: missing",
        "error: line 4: not UTF-8 (byte 0xe9 at offset 22)",
        f"error: line 5: line too long ({len(big)} bytes; the limit is 1048576)",
        "error: line 6: context.app: expected a string, got 5",
    ]


def test_a_line_the_engine_fails_on_is_reported_and_withheld(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    import workprint.privacy.redact as redact
    from workprint.cli.redact_cmds import run_redact

    real = redact.redact_logged

    def flaky(text: str, context: redact.Context) -> redact.RedactionResult:
        if "boom" in text:
            raise RuntimeError("engine bug")
        return real(text, context)

    monkeypatch.setattr(redact, "redact_logged", flaky)
    out, err = io.StringIO(), io.StringIO()
    stdin = io.BytesIO(line({"id": 1, "text": "boom bob@example.com"}) + line({"id": 2, "text": "ip 10.0.0.1"}))
    assert run_redact(stdin, out, err) == 1
    assert [json.loads(x)["id"] for x in out.getvalue().splitlines()] == [2]
    assert err.getvalue() == "error: line 1: redaction failed (RuntimeError)\n"
