"""``workprint redact`` (JSON lines of typed text) and ``workprint redact-image`` (one screenshot)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from workprint.cli.main import app
from workprint.errors import ConfigError

MAX_LINE = 1 << 20  # bytes; a longer line is refused, not parsed


def _read_lines(stream: IO[bytes]) -> Any:
    """Yield (line number, bytes or None when too long, length) without ever holding more than MAX_LINE bytes."""
    n = 0
    while True:
        chunk = stream.readline(MAX_LINE + 1)
        if not chunk:
            return
        n += 1
        if len(chunk) > MAX_LINE and not chunk.endswith(b"\n"):
            size = len(chunk)
            while True:  # skip the rest of the over-long line
                more = stream.readline(MAX_LINE)
                size += len(more)
                if not more or more.endswith(b"\n"):
                    break
            yield n, None, size
            continue
        yield n, chunk, len(chunk)


def parse_line(raw: bytes) -> tuple[Any, str, dict[str, str]]:
    """Validate one input line; raises ``ConfigError`` naming the field and the bad value."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from None
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(rec, dict):
        raise ConfigError(f"expected a JSON object, got {type(rec).__name__}")
    if "id" not in rec:
        raise ConfigError("id: missing")
    if "text" not in rec:
        raise ConfigError("text: missing")
    if not isinstance(rec["text"], str):
        raise ConfigError(f"text: expected a string, got {rec['text']!r:.40}")
    context = rec.get("context", {})
    if not isinstance(context, dict):
        raise ConfigError(f"context: expected an object, got {context!r:.40}")
    ctx: dict[str, str] = {}
    for key in ("app", "title"):
        value = context.get(key, "")
        if not isinstance(value, str):
            raise ConfigError(f"context.{key}: expected a string, got {value!r:.40}")
        ctx[key] = value
    return rec["id"], rec["text"], ctx


def run_redact(stdin: IO[bytes], stdout: IO[str], stderr: IO[str]) -> int:
    """The ``redact`` filter over streams; returns the exit status (1 when any line was bad)."""
    from workprint.privacy.redact import Context, redact_logged

    bad = 0
    for n, raw, size in _read_lines(stdin):
        try:
            if raw is None:
                raise ConfigError(f"line too long ({size} bytes; the limit is {MAX_LINE})")
            if not raw.strip():
                continue
            rid, text, ctx = parse_line(raw)
        except ConfigError as exc:
            bad += 1
            print(f"error: line {n}: {exc}", file=stderr)
            continue
        try:
            res = redact_logged(text, Context(app=ctx["app"], title=ctx["title"]))
        except Exception as exc:  # fail closed: a line the engine chokes on is reported, never echoed
            bad += 1
            print(f"error: line {n}: redaction failed ({type(exc).__name__})", file=stderr)
            continue
        spans = [{"start": s.start, "end": s.end, "type": s.type} for s in res.spans]
        stdout.write(json.dumps({"id": rid, "spans": spans, "text": res.text}, ensure_ascii=False) + "\n")
        stdout.flush()
    return 1 if bad else 0


@app.command()
def redact() -> None:
    """Redact JSON lines {"id", "text", "context": {"app", "title"}} from stdin (U+0008 in text is a Backspace)."""
    code = run_redact(sys.stdin.buffer, sys.stdout, sys.stderr)
    if code:
        sys.exit(code)  # typer.Exit's code is lost in non-standalone mode


@app.command("redact-image")
def redact_image(
    src: Annotated[Path, typer.Argument(help="Screenshot to redact (PNG, JPEG, WebP)")],
    dst: Annotated[Path, typer.Argument(help="Where to write the redacted image (same format)")],
    title: Annotated[str, typer.Option(help="The window title, used as context")] = "",
) -> None:
    """Redact one screenshot the way the agent does: OCR, detect, fill every matching box."""
    from workprint.privacy.redact.image import ImageRedactor

    try:
        data = src.read_bytes()
    except OSError as exc:
        raise ConfigError(f"IN: cannot read {str(src)!r} ({exc.strerror})") from None
    result = ImageRedactor().redact(data, title=title)
    dst.write_bytes(result.image)
    print(f"{len(result.boxes)} boxes filled ({', '.join(sorted({b.type for b in result.boxes})) or 'nothing found'})")
