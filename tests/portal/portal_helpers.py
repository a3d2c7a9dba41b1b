"""Shared pieces of the portal tests: the world they run in, the browser's launch arguments, real typing."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Page

from workprint.agent import Agent
from workprint.capture.xvfb import VirtualDisplay
from workprint.config import AgentSettings
from workprint.device import DeviceRecord
from workprint.server.api import ServerAPI

PASSWORD = "portal test password"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


@dataclass
class World:
    """The server, its participants' devices, the display and the browser."""

    api: ServerAPI
    url: str
    vd: VirtualDisplay
    browser: Browser
    devices: dict[str, tuple[AgentSettings, DeviceRecord]]
    users: dict[str, str] = field(default_factory=dict)  # username -> user id
    pids: dict[str, str] = field(default_factory=dict)  # "ada"/"bob" -> participant id

    def login(self, username: str) -> Page:
        """A fresh browser context signed in as ``username``."""
        page = self.browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.goto(f"{self.url}/portal/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/portal/$"))
        return page

    def agent(self, who: str) -> Agent:
        settings, device = self.devices[who]
        return Agent(settings, device, display=self.vd.display)


def type_text(vd: VirtualDisplay, text: str) -> None:
    """Type into whatever window has the focus, with real XTEST input."""
    subprocess.run(["xdotool", "type", "--delay", "20", text], env=vd.env, check=True, timeout=30)


def nav(page: Page, label: str) -> None:
    """Follow a link of the main navigation."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=label, exact=True).click()
