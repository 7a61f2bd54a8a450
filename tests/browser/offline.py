"""Pages with the network cut off: a page may reach the registry it was opened from and nothing
else. Every request elsewhere is aborted and kept, so a test can say which host a page tried.
Screenshots go to ``$ASSETS_TEST_ARTIFACTS`` (default ``test-artifacts/`` in the working folder)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Offline:
    """A page whose network reaches ``origin`` only; what it tried elsewhere, and its script errors."""

    page: Any
    origin: str
    elsewhere: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.elsewhere == [], f"the page tried other hosts: {self.elsewhere}"
        assert self.errors == [], f"script errors: {self.errors}"
        assert self.failed == [], f"requests that failed: {self.failed}"

    def screenshot(self, name: str) -> Path:
        folder = Path(os.environ.get("ASSETS_TEST_ARTIFACTS", "test-artifacts"))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def offline_page(browser: Any, origin: str, **context: Any) -> Offline:
    """A new page in its own context (cookies and all), the network cut off but for ``origin``."""
    opened = browser.new_context(viewport={"width": 1400, "height": 900}, **context)
    page = opened.new_page()
    offline = Offline(page, origin)

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(origin + "/") or url == origin or url.startswith("data:"):
            request_route.continue_()
        else:
            offline.elsewhere.append(url)
            request_route.abort("internetdisconnected")

    opened.route("**/*", route)
    page.on("pageerror", lambda error: offline.errors.append(str(error)))
    page.on("requestfailed", lambda request: offline.failed.append(request.url))
    return offline
