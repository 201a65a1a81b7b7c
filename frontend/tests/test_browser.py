"""End to end in a real browser: Debian's Chromium driven by Playwright, against the real
Gradio app and a fake backend, both started here on 127.0.0.1.

Skips (with the reason) when /usr/bin/chromium is absent; CI installs it with apt.
Screenshots go to $SCREENSHOT_DIR (default tests/output/screenshots).
"""

import contextlib
import re
import time

import pytest
from flipkart_contract.testing import image_bytes
from flipkart_ui.assets import load_samples
from ui_harness import (
    checked_page,
    chromium_missing,
    open_page,
    pick_sample,
    record_timing,
    shoot,
    upload_file,
)

TIMEOUT_MS = 30_000

if why := chromium_missing():
    pytest.skip(why, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture()
def page(browser, app_url, request):
    viewport = {"width": 1400, "height": 1000}
    with checked_page(browser, app_url, viewport, TIMEOUT_MS, request.node.name) as page:
        yield page


def last_prediction(backend) -> dict:
    return next(c["answer"] for c in reversed(backend.behaviour.calls) if "answer" in c)


def test_pick_a_sample_shows_the_prediction(page, browser_backend, assets_dir):
    sample = load_samples(assets_dir)[5]
    pick_sample(page, sample.title)
    expect(page.locator("#prediction-details")).to_contain_text("with a confidence of")
    answer = last_prediction(browser_backend)
    expect(page.locator("#prediction")).to_contain_text(answer["label"])
    expect(page.locator("#prediction-details")).to_contain_text(f"{answer['confidence']:.1%}")
    expect(page.locator("#prediction-details")).to_contain_text(sample.label)  # true category
    expect(page.locator("#probabilities .js-plotly-plot")).to_be_visible()
    expect(page.locator("#probabilities g.point")).to_have_count(7)
    expect(page.locator("#transformed img")).to_be_visible()
    expect(page.locator("#classify-status")).not_to_contain_text("❌")


def test_upload_a_file(page, browser_backend, tmp_path):
    path = tmp_path / "upload.png"
    path.write_bytes(image_bytes((30, 40), color=(12, 200, 90)))
    upload_file(page, path)
    expect(page.locator("#prediction-details")).to_contain_text("with a confidence of")
    answer = last_prediction(browser_backend)
    expect(page.locator("#prediction")).to_contain_text(answer["label"])
    assert last_call_bytes(browser_backend) == path.stat().st_size


def last_call_bytes(backend) -> int:
    return next(c["bytes"] for c in reversed(backend.behaviour.calls) if "answer" in c)


def test_dashboard_filter_updates_the_charts(page):
    started = time.perf_counter()
    page.get_by_role("tab", name="Dashboard").click()
    bars = page.locator("#chart-counts g.point")
    expect(bars).to_have_count(7)
    record_timing("dashboard_first_chart_after_tab_click", time.perf_counter() - started)
    expect(page.locator("#chart-resolution .js-plotly-plot")).to_be_visible()
    expect(page.locator("#chart-price .js-plotly-plot")).to_be_visible()
    expect(page.locator("#dashboard-summary")).to_contain_text("(shown: 42 images)")
    expect(page.locator("#gallery img")).to_have_count(14)
    started = time.perf_counter()
    page.locator("#category-filter").get_by_label("Watches").uncheck()
    expect(bars).to_have_count(6)
    expect(page.locator("#dashboard-summary")).to_contain_text("(shown: 36 images)")
    expect(page.locator("#chart-resolution .legendtext")).to_have_count(6)
    record_timing("dashboard_filter_to_redrawn_charts", time.perf_counter() - started)
    expect(page.locator("#chart-resolution")).not_to_contain_text("Watches")
    expect(page.locator("#gallery img")).to_have_count(12)


def test_a_filter_draws_each_chart_once(page):
    """Gradio puts each update of a chart into a new element, and drew it into the old element
    first (five wasted drawings per filter); the page now draws the new element only."""
    page.get_by_role("tab", name="Dashboard").click()
    expect(page.locator("#chart-resolution .legendtext")).to_have_count(7)
    for label, shown in (("Watches", 6), ("Computers", 5)):
        page.evaluate(
            """() => { window.oldDrawings = 0;
              document.querySelectorAll('[id^=chart-] .js-plotly-plot').forEach((plot) =>
                plot.on('plotly_afterplot', () => { window.oldDrawings += 1; })); }"""
        )
        page.locator("#category-filter").get_by_label(label).uncheck()
        expect(page.locator("#chart-counts g.point")).to_have_count(shown)
        expect(page.locator("#chart-resolution .legendtext")).to_have_count(shown)
        page.wait_for_timeout(1000)  # a late drawing of an old element would count
        assert page.evaluate("() => window.oldDrawings") == 0


def test_dashboard_first_chart_once_the_page_has_settled(browser, app_url):
    """The first chart of a session when the Dashboard is opened once the page has finished
    loading (no request left), as a user reading the page first would: logged, not asserted."""
    page = open_page(browser, app_url, {"width": 1400, "height": 1000}, TIMEOUT_MS)
    try:
        with contextlib.suppress(sync_api.TimeoutError):
            page.wait_for_load_state("networkidle", timeout=10_000)
        started = time.perf_counter()
        page.get_by_role("tab", name="Dashboard").click()
        expect(page.locator("#chart-counts g.point")).to_have_count(7)
        record_timing("dashboard_first_chart_page_settled", time.perf_counter() - started)
    finally:
        page.context.close()


def test_models_tab_shows_the_leaderboard(page):
    page.get_by_role("tab", name="Models").click()
    expect(page.locator("#production")).to_contain_text("In production: efficientnet_lite0")
    expect(page.locator("#models-status")).to_contain_text("2 models from the backend.")
    expect(page.get_by_role("tab", name="Monitoring")).to_be_visible()
    page.get_by_role("tab", name="Monitoring").click()
    expect(page.locator("#stats-status")).to_contain_text("not available on the backend yet")


def test_switch_to_french(page, browser_backend, assets_dir):
    pick_sample(page, load_samples(assets_dir)[0].title)
    expect(page.locator("#prediction-details")).to_contain_text("with a confidence of")
    page.locator("#language").get_by_label("Français").check()
    expect(page.get_by_role("tab", name="Tableau de bord")).to_be_visible()
    expect(page.locator("#classify")).to_have_text("Classer")
    expect(page.locator("#prediction-details")).to_contain_text("avec une confiance de")
    expect(page.get_by_text("Choisissez un produit exemple")).to_be_visible()
    page.get_by_role("tab", name="Tableau de bord").click()
    expect(page.locator("#chart-counts .gtitle")).to_have_text("Images par catégorie")
    expect(page.locator("#dashboard-summary")).to_contain_text("Le jeu de données Flipkart")
    page.get_by_role("tab", name="Modèles").click()
    expect(page.locator("#production")).to_contain_text("En production")


def test_slow_backend_gives_a_clear_message(page, browser_backend, assets_dir):
    browser_backend.behaviour.mode, browser_backend.behaviour.delay_s = "slow", 8.0
    try:
        pick_sample(page, load_samples(assets_dir)[1].title)
        status = page.locator("#classify-status")
        expect(status).to_contain_text("took too long to answer (over 6 s)")
    finally:
        browser_backend.behaviour.mode = "ok"


def test_slow_call_shows_progress_and_does_not_block_other_users(
    browser, app_url, browser_backend, assets_dir
):
    """User A waits on a slow backend; meanwhile user B filters the dashboard and gets it."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    user_a, user_b = context.new_page(), context.new_page()
    for user in (user_a, user_b):
        user.goto(app_url)
        expect(user.locator("#sample")).to_be_visible()
    user_b.get_by_role("tab", name="Dashboard").click()
    expect(user_b.locator("#chart-counts g.point")).to_have_count(7)
    browser_backend.behaviour.mode, browser_backend.behaviour.delay_s = "slow", 4.5
    try:
        pick_sample(user_a, load_samples(assets_dir)[6].title)
        expect(user_a.get_by_text("Sending to the model").first).to_be_visible()
        shoot(user_a, "progress_while_waiting")
        user_b.locator("#category-filter").get_by_label("Watches").uncheck()
        expect(user_b.locator("#chart-counts g.point")).to_have_count(6)
        # B got its answer while A is still waiting for the backend
        assert "with a confidence of" not in user_a.locator("#prediction-details").inner_text()
        expect(user_a.locator("#prediction-details")).to_contain_text("with a confidence of")
    finally:
        browser_backend.behaviour.mode = "ok"
        context.close()


def test_backend_error_is_explained(page, browser_backend, assets_dir):
    browser_backend.behaviour.mode = "error"
    try:
        pick_sample(page, load_samples(assets_dir)[2].title)
        expect(page.locator("#classify-status")).to_contain_text(
            re.compile(r"had a problem\. Try again later\.")
        )
        assert "internal_error" not in page.locator("#classify-status").inner_text()
    finally:
        browser_backend.behaviour.mode = "ok"


def test_backend_down_gives_a_friendly_error_and_the_rest_works(page, browser_backend, assets_dir):
    browser_backend.stop()  # last test of the module: the backend is gone for good
    pick_sample(page, load_samples(assets_dir)[4].title)
    expect(page.locator("#classify-status")).to_contain_text("cannot be reached")
    shoot(page, "backend_down_classification")
    page.get_by_role("tab", name="Models").click()
    page.get_by_role("button", name="Refresh").first.click()
    expect(page.locator("#models-status")).to_contain_text("cannot be reached")
    page.get_by_role("tab", name="Dashboard").click()
    expect(page.locator("#chart-counts g.point")).to_have_count(7)
