"""The redactor and its libraries open no socket and start no program: OCR runs in process (invariant 8)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# Runs in a fresh interpreter so that importing the redactor is watched too. The audit hook records every socket
# creation, connection and name lookup, and every program started.
SCRIPT = textwrap.dedent(
    """
    import io, json, sys
    seen = []
    def hook(event, args):
        if event.startswith("socket.") or event in ("subprocess.Popen", "os.exec", "os.posix_spawn"):
            seen.append([event, str(args[0] if event != "socket.__new__" else "")[:80]])
    sys.addaudithook(hook)

    from PIL import Image, ImageDraw
    from workprint.models import KeyEvent, WindowEvent
    from workprint.privacy.redact import KeyRedactor, redact_logged, redact_text
    from workprint.privacy.redact.image import ImageRedactor

    redact_text("mail bob@example.com, key ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789")
    redact_logged("jonh\\b\\bhn@example.com")
    step = KeyRedactor(frame_redactor=ImageRedactor(timeout_s=20))
    step.feed((WindowEvent(1, 1, "Thunderbird", "Inbox - a@b.org", 1, 0, 0, 9, 9, 9, 9), None))
    for i, ch in enumerate("a@b.org"):
        step.feed((KeyEvent(10 + i, 0, True, 30 + i, ch, ch), None))
    img = Image.new("RGB", (640, 200), "white")
    ImageDraw.Draw(img).text((10, 10), "mail bob@example.com", fill="black")
    buf = io.BytesIO(); img.save(buf, format="PNG")
    ImageRedactor(timeout_s=20).redact(buf.getvalue(), title="Inbox")
    step.flush()
    print(json.dumps(seen))
    """
)


def test_redaction_opens_no_socket_and_starts_no_program() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    sockets = [e for e in seen if e[0].startswith("socket.")]
    programs = [e for e in seen if not e[0].startswith("socket.")]
    assert sockets == []
    assert programs == []  # not even tesseract: the engine stays loaded in the process
