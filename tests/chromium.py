"""Headless Chromium (Debian's `chromium`, driven by Playwright) for the browser tests.

`make test` installs chromium with apt-get where it can; the tests that need it are skipped,
with the reason, only where no binary exists. Screenshots go to test-artifacts/.
"""
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary (apt-get install chromium failed or is not possible here)")


@contextmanager
def chromium_page(**page_options):
    """A fresh page in a headless Chromium that is closed afterwards, whatever happens."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser.new_page(**page_options)
        finally:
            browser.close()
