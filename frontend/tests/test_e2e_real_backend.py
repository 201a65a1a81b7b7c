"""The whole product in a real browser: the real backend (its own uv environment, serving the
committed production model) and the real Gradio app, both started here on 127.0.0.1, driven by
Debian's Chromium through Playwright.

test_browser.py uses a fake backend to stage slow answers and crashes; this module checks the
two projects agree with nothing faked: samples, upload, a refused URL, feedback, the dashboard,
the models and monitoring tabs, French, and the backend going away. The tests run in order on
one page, as one user's session. Screenshots go to $SCREENSHOT_DIR (default tests/output/).
"""

import re

import httpx
import pytest
from flipkart_contract.testing import image_bytes
from flipkart_ui.assets import load_samples
from real_backend import ADMIN_KEY, RealBackend, missing
from ui_harness import (
    chromium_missing,
    open_page,
    pick_sample,
    running_app,
    shoot,
    upload_file,
    wait_for_count,
)

TIMEOUT_MS = 60_000

if why := chromium_missing() or missing():
    pytest.skip(why, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    server = RealBackend(tmp_path_factory.mktemp("real-backend")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app_url(backend, assets_dir):
    with running_app(backend.url, assets_dir, api_timeout_s=30, api_key=ADMIN_KEY) as url:
        yield url


@pytest.fixture(scope="module")
def page(browser, app_url):
    expect.set_options(timeout=TIMEOUT_MS)
    page = open_page(browser, app_url, {"width": 1400, "height": 1000}, TIMEOUT_MS)
    yield page
    assert "Traceback" not in page.content()
    page.context.close()


def stored_predictions(backend) -> int:
    return backend.stats()["predictions"]


def test_sample_classified_by_the_production_model(page, backend, assets_dir):
    classes = backend.production_classes()
    watch = next(s for s in load_samples(assets_dir) if s.label == "Watches")
    pick_sample(page, watch.title)
    expect(page.locator("#prediction-details")).to_contain_text("with a confidence of")
    shown = page.locator("#prediction").inner_text()
    assert any(c in shown for c in classes), shown
    expect(page.locator("#probabilities g.point")).to_have_count(len(classes))
    expect(page.locator("#transformed img")).to_be_visible()  # from the real /v1/preprocess
    expect(page.locator("#classify-status")).not_to_contain_text("❌")
    shoot(page, "real_backend_sample")


def test_feedback_is_recorded_by_the_backend(page, backend):
    page.get_by_role("button", name="✔ Correct").click()
    expect(page.locator("#feedback-status")).to_contain_text("your feedback was recorded")
    feedback = backend.stats()["feedback"]
    assert feedback["count"] == 1 and feedback["correct"] == 1, feedback


def test_upload_a_file(page, backend, tmp_path):
    before = stored_predictions(backend)
    path = tmp_path / "upload.png"
    path.write_bytes(image_bytes((300, 200), color=(240, 240, 240)))
    details = page.locator("#prediction-details")
    previous = details.inner_text()
    upload_file(page, path)
    expect(details).not_to_have_text(previous)
    expect(details).to_contain_text("with a confidence of")
    wait_for_count(lambda: stored_predictions(backend), before + 1)


def test_a_private_url_is_refused_with_a_clear_message(page, backend):
    """The backend's URL guard refuses loopback/private addresses before connecting."""
    before = stored_predictions(backend)
    field = page.locator("#url textarea, #url input").first
    field.fill(f"{backend.url}/health")
    field.press("Enter")
    status = page.locator("#classify-status")
    expect(status).to_contain_text("For security, the service does not download images")
    # The earlier "thank you" is gone (the feedback controls are hidden after an error).
    expect(page.locator("#feedback-status")).not_to_contain_text("your feedback was recorded")
    assert stored_predictions(backend) == before
    shoot(page, "real_backend_refused_url")


def test_dashboard_needs_no_backend_and_renders(page):
    page.get_by_role("tab", name="Dashboard").click()
    expect(page.locator("#chart-counts g.point")).to_have_count(7)
    expect(page.locator("#chart-resolution .js-plotly-plot")).to_be_visible()
    expect(page.locator("#gallery img").first).to_be_visible()


def test_models_and_monitoring_tabs_read_the_real_backend(page, backend):
    models = httpx.get(f"{backend.url}/v1/models", timeout=10).json()
    page.get_by_role("tab", name="Models").click()
    page.get_by_role("button", name="Refresh").first.click()
    count = len(models["models"])
    expect(page.locator("#models-status")).to_contain_text(f"{count} models from the backend.")
    expect(page.locator("#production")).to_contain_text("In production: efficientnet_lite0")
    page.get_by_role("tab", name="Monitoring").click()
    page.get_by_role("button", name="Refresh").last.click()
    expect(page.locator("#stats-status")).to_contain_text("Statistics updated at")
    total = stored_predictions(backend)
    assert total >= 2  # the sample and the upload
    expect(page.locator("#kpis")).to_contain_text(
        re.compile(rf"Distinct images classified.*\s*{total}\b")
    )
    shoot(page, "real_backend_monitoring")


def test_french_then_the_backend_goes_away(page, backend, assets_dir):
    page.get_by_role("tab", name="Classification").click()
    page.locator("#language").get_by_label("Français").check()
    expect(page.locator("#classify")).to_have_text("Classer")
    backend.stop()
    pick_sample(page, load_samples(assets_dir)[3].title)
    expect(page.locator("#classify-status")).to_contain_text("injoignable")
    shoot(page, "real_backend_backend_down_fr")
    page.get_by_role("tab", name="Tableau de bord").click()
    expect(page.locator("#chart-counts g.point")).to_have_count(7)
