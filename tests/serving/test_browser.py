"""The web page in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.

Types a text, clicks Predict, reads the rendered label; saves a screenshot to
test-artifacts/web_page.png. Skipped, with the reason, only when no chromium binary exists
(`make test` installs it with apt-get when it can).
"""
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    import uvicorn

    from conftest import train_tiny_sms
    from textclf.inference.predictor import Predictor
    from textclf.serving.app import create_app

    run, _ = train_tiny_sms(tiny_model_dir, tmp_path_factory.mktemp("browser"))
    port = free_port()
    app = create_app(lambda: Predictor.load(run.path, backend="torch"))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    import httpx
    deadline = time.time() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.time() < deadline, "server did not become ready"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}", run
    srv.should_exit = True
    thread.join(10)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium failed or "
                                              "is not possible here)")
def test_page_predicts_in_a_real_browser(server):
    from playwright.sync_api import sync_playwright

    url, run = server
    import textclf
    expected = textclf.load(run.path, backend="torch").predict("win a free prize now call")["label"]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
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
        finally:
            browser.close()
    assert (ARTIFACTS / "web_page.png").stat().st_size > 1000
