"""The web page's explain toggle in headless Chromium: the text comes back with its words
highlighted; screenshot in test-artifacts/web_page_explain.png."""
import pytest

from chromium import ARTIFACTS, chromium_page, needs_chromium
from test_browser import server  # noqa: F401  (the same uvicorn fixture)

pytest.importorskip("captum", reason="captum is in the test extra (pip install -e '.[test]')")

TEXT = "win a free prize now, call to claim"


@needs_chromium
def test_explain_toggle_highlights_words(server):  # noqa: F811
    url, _ = server
    with chromium_page() as page:
        page.goto(url + "/")
        page.wait_for_function("document.getElementById('model').textContent.includes('task: binary')")
        page.fill("#text", TEXT)
        page.check("#explain")
        page.click("#go")
        page.wait_for_selector("#explanation .word")
        words = page.locator("#explanation .word")
        assert words.count() == len(TEXT.replace(",", " ,").split())   # the comma is a word too
        label = page.inner_text("#label").strip()
        assert f"why {label}" in page.inner_text("#explanation .legend")
        box = page.inner_text("#explanation")
        assert box.split("\n")[-1].strip() == TEXT          # the text itself, rebuilt from its pieces
        assert "log-odds" in words.first.get_attribute("title")
        page.screenshot(path=str(ARTIFACTS / "web_page_explain.png"), full_page=True)
        page.uncheck("#explain")                 # off again: no explanation on the next prediction
        page.click("#go")
        page.wait_for_selector("#label")
        assert page.locator("#explanation").count() == 0
    assert (ARTIFACTS / "web_page_explain.png").stat().st_size > 1000
