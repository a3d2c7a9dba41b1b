"""A private virtual X display (Xvfb) with a window manager, for the demo, tests and benchmarks."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from types import TracebackType

from workprint.errors import CaptureError


class VirtualDisplay:
    """Start ``Xvfb`` on a free display number (``-displayfd``) and, optionally, openbox on it.

    Use as a context manager; ``display`` is the ``:N`` name and ``env`` a copy of ``os.environ`` pointing at it.
    ``extra_args`` go to Xvfb (e.g. ``("-extension", "RECORD")`` to test a server without RECORD).
    """

    def __init__(
        self, width: int = 1280, height: int = 800, *, window_manager: bool = True, extra_args: tuple[str, ...] = ()
    ) -> None:
        self.extra_args = extra_args
        self.width = width
        self.height = height
        self.window_manager = window_manager
        self.display = ""
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DISPLAY"] = self.display
        return env

    def start(self) -> VirtualDisplay:
        if shutil.which("Xvfb") is None:
            raise CaptureError("Xvfb: not installed (apt-get install xvfb)")
        rfd, wfd = os.pipe()
        xvfb = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(wfd),
                "-screen",
                "0",
                f"{self.width}x{self.height}x24",
                "-nolisten",
                "tcp",
                *self.extra_args,
            ],
            pass_fds=(wfd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(wfd)
        self._procs.append(xvfb)
        with os.fdopen(rfd) as r:
            number = r.readline().strip()
        if not number:
            self.stop()
            raise CaptureError("Xvfb: did not report a display number")
        self.display = f":{number}"
        if self.window_manager and shutil.which("openbox"):
            wm = subprocess.Popen(
                ["openbox", "--sm-disable"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            self._procs.append(wm)
            self._wait_for_wm()
        return self

    def _wait_for_wm(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = subprocess.run(
                ["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"], env=self.env, capture_output=True, text=True
            )
            if "window id" in out.stdout:
                return
            time.sleep(0.05)

    def stop(self) -> None:
        for proc in reversed(self._procs):
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()

    def __enter__(self) -> VirtualDisplay:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
