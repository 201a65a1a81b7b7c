"""Issue 17's Models and Monitoring features in a real browser against the real backend (its
own uv environment, the committed production model, runs/ and confusion cells): every run's
learning curve, a confusion-matrix cell clicked shows its test images, requests per hour with
the answers from the store, latency over time, the label mix against the training split, the
backend status; in French; the cells at phone width. Screenshots go to $SCREENSHOT_DIR."""

import httpx
import pytest
from flipkart_contract.testing import image_bytes
from real_backend import ADMIN_KEY, missing
from test_browser_customer import PHONE, plotted
from ui_harness import chromium_missing, open_page, shoot

if why := chromium_missing() or missing():
    pytest.skip(why, allow_module_level=True)

import test_e2e_real_backend as e2e

# The real backend, the app on it and one page: test_e2e_real_backend's fixtures (module-scoped,
# so this module gets its own backend and page).
backend, app_url, page, TIMEOUT_MS = e2e.backend, e2e.app_url, e2e.page, e2e.TIMEOUT_MS

expect = pytest.importorskip("playwright.sync_api").expect


def get(backend, path: str, **params) -> dict:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    return httpx.get(f"{backend.url}{path}", params=params, headers=headers, timeout=30).json()


def test_every_run_has_its_learning_curve(page, backend):
    runs = get(backend, "/v1/runs")["runs"]
    with_curves = [r for r in runs if r["tags"].get("val/accuracy")]
    page.get_by_role("tab", name="Models").click()
    expect(page.locator("#curves-status")).to_contain_text(f"{len(runs)} training runs")
    traces = plotted(page, "chart-curves")
    assert len(traces) == len(with_curves) >= 15
    assert len({t["name"] for t in traces}) == len(traces)  # each run named apart
    one = with_curves[-1]
    curve = get(backend, f"/v1/runs/{one['run_id']}/curves", tag="val/accuracy")["curves"]
    drawn = [t for t in traces if t["x"] == [p[0] for p in curve["val/accuracy"]]]
    assert any(t["y"] == pytest.approx([p[1] for p in curve["val/accuracy"]]) for t in drawn)
    page.locator("#curve-metric input").click()
    page.get_by_role("option", name="Validation loss").click()
    expect(page.locator("#chart-curves")).to_contain_text("Validation loss, every run")
    shoot(page, "insights_models_curves")


def cell(page, row: int, column: int):
    """The confusion table's cell (row, column of the matrix: column 0 names the class)."""
    return page.locator(f'#cells [data-testid="cell-{row}-{column + 1}"]')


def test_a_confusion_cell_shows_its_test_images(page, backend):
    production = get(backend, "/v1/models")["production"]
    cells = get(backend, f"/v1/models/{production}/test-predictions")
    matrix, classes = cells["confusion_matrix"], cells["classes"]
    expect(page.locator("#cells-hint")).to_contain_text("Click a cell")
    wrong = max(
        ((r, c) for r in range(7) for c in range(7) if r != c), key=lambda rc: matrix[rc[0]][rc[1]]
    )
    for row, column in ((0, 0), wrong):
        count = matrix[row][column]
        cell(page, row, column).click()
        expect(page.locator("#cell-caption")).to_contain_text(f"{count} × {classes[row]}")
        expect(page.locator("#cell-gallery img")).to_have_count(count)
    expect(page.locator("#cell-caption")).to_contain_text(f"taken for {classes[wrong[1]]}")
    shoot(page, "insights_models_cell")


def test_monitoring_counts_requests_with_the_answers_from_the_store(page, backend):
    files = {"file": ("x.png", image_bytes((40, 40), color=(10, 120, 200)), "image/png")}
    for _ in range(3):  # one new prediction, then two answers from the store
        assert httpx.post(f"{backend.url}/v1/predict", files=files, timeout=30).is_success
    series = get(backend, "/v1/stats/series", window_hours=48, bucket_minutes=60)
    assert series["cache_hits"] >= 2
    page.get_by_role("tab", name="Monitoring").click()
    page.get_by_role("button", name="Refresh").last.click()
    expect(page.locator("#health")).to_contain_text("Service ready")
    expect(page.locator("#chart-requests")).to_contain_text("Requests per hour")
    page.wait_for_function(  # the refresh's answer drawn (the page opened on an empty store)
        "() => document.querySelector('#chart-requests .js-plotly-plot')?.data?.length === 2"
    )
    traces = plotted(page, "chart-requests")
    assert [t["name"] for t in traces] == [
        "New predictions",
        "Answered from the store (repeated image)",
    ]
    assert sum(traces[1]["y"]) == series["cache_hits"]
    assert sum(traces[0]["y"]) + sum(traces[1]["y"]) == series["requests"]
    ticks = page.locator("#chart-requests .js-plotly-plot").evaluate(
        "el => el._fullLayout.yaxis._vals.map(v => v.text)"
    )
    assert ticks and all("." not in tick for tick in ticks)  # whole numbers only on a count
    assert len(plotted(page, "chart-latency-series")) == 3  # p50, p95, p99
    mix = plotted(page, "chart-label-mix")
    assert [t["name"] for t in mix] == ["Predicted", "Training set"]
    assert sum(mix[0]["y"]) == pytest.approx(1) and sum(mix[1]["y"]) == pytest.approx(1)
    shoot(page, "insights_monitoring")


def test_in_french(page):
    page.locator("#language").get_by_label("Français").check()
    expect(page.locator("#health")).to_contain_text("Service prêt")
    expect(page.locator("#chart-requests")).to_contain_text("Requêtes par heure")
    page.get_by_role("tab", name="Modèles").click()
    expect(page.locator("#cell-caption")).to_contain_text("prises pour")
    expect(page.locator("#chart-curves")).to_contain_text("toutes les exécutions")
    shoot(page, "insights_models_fr")
    page.locator("#language").get_by_label("English").check()


def test_cells_at_phone_width(browser, app_url, backend):
    phone = open_page(browser, app_url, PHONE, TIMEOUT_MS)
    try:
        phone.get_by_role("tab", name="Models").click()
        cell(phone, 1, 1).scroll_into_view_if_needed()
        cell(phone, 1, 1).click()
        expect(phone.locator("#cell-gallery img").first).to_be_visible()
        shoot(phone, "phone_insights_models_cell")
        phone.get_by_role("tab", name="Monitoring").click()
        expect(phone.locator("#health")).to_contain_text("Service ready")
        shoot(phone, "phone_insights_monitoring")
    finally:
        phone.context.close()
