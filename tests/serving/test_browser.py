"""The web page in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.

Types a text, clicks Predict, reads the rendered label; saves a screenshot to
test-artifacts/web_page.png. Skipped, with the reason, only when no chromium binary exists
(`make test` installs it with apt-get when it can).
"""

import pytest

from chromium import ARTIFACTS, chromium_page, needs_chromium
from loopback import LoopbackServer


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):

    from conftest import train_tiny_sms
    from textclf.inference.predictor import Predictor
    from textclf.serving.app import create_app

    run, _ = train_tiny_sms(tiny_model_dir, tmp_path_factory.mktemp("browser"))
    app = create_app(lambda: Predictor.load(run.path, backend="torch"))
    with LoopbackServer(app) as srv:
        srv.wait_ready()
        yield srv.url, run


@needs_chromium
def test_page_predicts_in_a_real_browser(server):
    url, run = server
    import textclf
    expected = textclf.load(run.path, backend="torch").predict("win a free prize now call")["label"]
    with chromium_page() as page:
        page.goto(url + "/")
        page.wait_for_function("document.getElementById('model').textContent.includes('task: binary')")
        page.fill("#text", "win a free prize now call")
        page.click("#go")
        page.wait_for_selector("#label")
        assert page.inner_text("#label").strip() == expected
        assert page.locator(".bar-row").count() == 2
        page.screenshot(path=str(ARTIFACTS / "web_page.png"), full_page=True)
        # batch mode: a pasted list gives one table row per line
        page.check("#batchmode")
        page.fill("#lines", "see you at lunch\nurgent claim your cash reward\nthanks")
        page.click("#go")
        page.wait_for_selector("table")
        assert page.locator("td.label").count() == 3
    assert (ARTIFACTS / "web_page.png").stat().st_size > 1000
