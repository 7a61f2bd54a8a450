"""Headless Chromium (Debian's, driven by Playwright) for the page tests; ``tests.browser.offline``
opens pages in it with the network cut off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers import find_binary, unavailable


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    chromium = find_binary("ASSETS_TEST_CHROMIUM", "chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            yield launched
        finally:
            launched.close()
