"""What a customer sees, in a real browser (Debian's Chromium, Playwright) against the real app
and the fake backend: bad uploads leave the page usable, errors are sentences in the page's
language, the Models charts show each run's own figures, the French page has no English left,
and every tab at desktop and phone width is screenshotted ($SCREENSHOT_DIR).

Skips (with the reason) when /usr/bin/chromium is absent; CI installs it with apt.
"""

import contextlib

import pytest
from fake_backend import models_answer
from flipkart_contract.testing import image_bytes
from flipkart_ui.assets import load_samples
from flipkart_ui.charts import model_entries, run_labels
from flipkart_ui.i18n import category, t
from ui_harness import (
    checked_page,
    chromium_missing,
    open_page,
    pick_sample,
    shoot,
    upload_file,
)

TIMEOUT_MS = 30_000
DESKTOP = {"width": 1440, "height": 1000}
PHONE = {"width": 390, "height": 844}

if why := chromium_missing():
    pytest.skip(why, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def browser_backend(browser_backend):
    browser_backend.behaviour.stats = True  # the Models and Monitoring tabs have their figures
    return browser_backend


@pytest.fixture()
def page(browser, app_url, request):
    with checked_page(browser, app_url, DESKTOP, TIMEOUT_MS, request.node.name) as page:
        yield page


def submit_url(page, url: str) -> None:
    # a sample's pick can fire its event twice; the late answer clears the URL field again
    page.wait_for_timeout(1500)
    field = page.locator("#url textarea, #url input").first
    field.fill(url)
    expect(field).to_have_value(url)
    field.press("Enter")


def error_badges(page) -> int:
    """Gradio's own red error badges (what a failed preprocessing leaves on the outputs)."""
    return page.locator(".error, [data-testid='status-tracker'] .error").count()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.txt", b"this is not a photo\n"),
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20),
    ],
)
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_bad_upload_says_why_clears_the_result_and_the_page_keeps_working(
    browser, app_url, assets_dir, tmp_path, name, content, lang
):
    page = open_page(browser, app_url, DESKTOP, TIMEOUT_MS, lang)
    try:
        samples = load_samples(assets_dir)
        pick_sample(page, samples[3].title)
        expect(page.locator("#prediction")).not_to_be_empty()
        expect(page.locator("#feedback")).to_be_visible()
        bad = tmp_path / name
        bad.write_bytes(content)
        upload_file(page, bad)
        expect(page.locator("#classify-status")).to_contain_text(t("err_not_an_image", lang))
        expect(page.locator("#prediction")).to_be_empty()  # the old result is gone
        expect(page.locator("#prediction-details")).to_be_empty()
        expect(page.locator("#feedback")).to_be_hidden()
        assert error_badges(page) == 0
        shoot(page, f"bad_upload_{lang}_{name.replace('.', '_')}")
        # the sample list and the URL field still answer
        pick_sample(page, samples[4].title)
        expect(page.locator("#classify-status")).to_be_empty()
        expect(page.locator("#prediction h3")).to_be_visible()
        submit_url(page, "https://example.com/x.jpg")
        expect(page.locator("#classify-status")).to_contain_text(t("err_url_unreachable", lang))
        # and a good upload classifies
        good = tmp_path / "good.png"
        good.write_bytes(image_bytes((30, 40), color=(12, 200, 90)))
        upload_file(page, good)
        expect(page.locator("#prediction h3")).to_be_visible()
        expect(page.locator("#classify-status")).to_be_empty()
    finally:
        page.context.close()


def test_backend_error_codes_are_translated_sentences(browser, app_url, browser_backend):
    for lang in ("en", "fr"):
        page = open_page(browser, app_url, DESKTOP, TIMEOUT_MS, lang)
        try:
            submit_url(page, "https://example.com/a.jpg")
            status = page.locator("#classify-status")
            expect(status).to_contain_text(t("err_url_unreachable", lang))
            for technical in ("[", "url_fetch_failed", "cannot download", "example.com"):
                assert technical not in status.inner_text()
            browser_backend.behaviour.mode = "error"
            try:
                page.locator("#classify").click()
                expect(status).to_contain_text(t("err_server", lang))
                assert "internal_error" not in status.inner_text()
                assert "crashed" not in status.inner_text()
            finally:
                browser_backend.behaviour.mode = "ok"
        finally:
            page.context.close()


def plotted(page, elem_id: str) -> list[dict]:
    """The traces Plotly drew in a gr.Plot: name, x, y (and text) of each."""
    return page.locator(f"#{elem_id} .js-plotly-plot").evaluate(
        "el => el.data.map(d => ({name: d.name, x: Array.from(d.x || []),"
        " y: Array.from(d.y || []), text: d.text ? Array.from(d.text) : null}))"
    )


def test_models_charts_show_each_runs_own_card_figures(page):
    answer = models_answer()
    entries = model_entries(answer)
    labels = run_labels(entries, "en")
    page.get_by_role("tab", name="Models").click()
    expect(page.locator("#chart-f1 .js-plotly-plot")).to_be_visible()
    traces = {trace["name"]: trace for trace in plotted(page, "chart-f1")}
    assert set(traces) == {labels[e.run_id] for e in entries}  # one series per run
    for entry in entries:
        per_class = entry.card.metrics.test.per_class
        trace = traces[labels[entry.run_id]]
        assert trace["x"] == [category(c, "en") for c in per_class]
        assert trace["y"] == pytest.approx([scores.f1 for scores in per_class.values()])
    points = plotted(page, "chart-acc-latency")
    shown = [text for trace in points for text in trace["text"]]
    assert sorted(shown) == sorted(labels.values()) and len(set(shown)) == len(shown)
    board = page.locator("#leaderboard")
    expect(board).to_contain_text("Latency at export (ms)")
    expect(board).to_contain_text("Latency measured on")


ENGLISH_UI = [
    "Drop Image Here",
    "Click to Upload",
    "Watches",
    "Computers",
    "Baby Care",
    "with a confidence of",
    "Predicted category",
    "Leaderboard",
    "Refresh",
    "Accuracy vs latency",
    "F1 per category",
    "Images per category",
    "common.",
    "Distinct images",
    "Latency at export",
]


def test_the_french_page_has_no_english_left(browser, app_url, assets_dir):
    page = open_page(browser, app_url, DESKTOP, TIMEOUT_MS, "fr")
    try:
        pick_sample(page, load_samples(assets_dir)[0].title)
        expect(page.locator("#prediction h3")).to_be_visible()
        expect(page.locator("#prediction-details")).to_contain_text("\u202f%")
        texts = [page.locator("body").inner_text()]
        for tab in ("Tableau de bord", "Modèles", "Supervision"):
            page.get_by_role("tab", name=tab).click()
            page.wait_for_timeout(500)
            expect(page.locator("[role=tabpanel] .js-plotly-plot:visible").first).to_be_visible()
            texts.append(page.locator("body").inner_text())
            texts.append(page.locator("svg").all_text_contents().__str__())
        shown = "\n".join(texts)
        titles = {s.title for s in load_samples(assets_dir)}  # product names stay as they are
        for title in titles:
            shown = shown.replace(title, "")
        left = [english for english in ENGLISH_UI if english in shown]
        assert not left, f"English on the French page: {left}"
    finally:
        page.context.close()


# [chart, width drawn, width of its box] of every chart on the shown tab.
CHART_WIDTHS = """() => [...document.querySelectorAll(".js-plotly-plot")]
  .filter((plot) => plot.offsetParent !== null)
  .map((plot) => [plot.closest("[id^=chart-]").id,
                  Math.round(plot.querySelector(".main-svg").getBoundingClientRect().width),
                  plot.closest("[id^=chart-]").clientWidth])"""


def clipped_charts(page, count: int) -> list:
    """The shown tab's charts (once `count` are drawn) whose width is not their box's."""
    fits = f"() => (({CHART_WIDTHS})()).filter(([, w, box]) => Math.abs(w - box) <= 2).length"
    with contextlib.suppress(sync_api.TimeoutError):  # said below, chart by chart
        page.wait_for_function(f"() => ({fits})() >= {count}", timeout=8000)
    return [chart for chart in page.evaluate(CHART_WIDTHS) if abs(chart[1] - chart[2]) > 2]


def test_charts_redrawn_in_a_hidden_tab_keep_their_full_width(browser, app_url):
    """Issue 17, defect 3: switching language redraws every chart, also those of the hidden
    tabs; Plotly drew those at its default 700 px (bars cut, legends cut, half width)."""
    page = open_page(browser, app_url, DESKTOP, TIMEOUT_MS)
    try:
        tabs = {"Dashboard": ("Tableau de bord", 5), "Models": ("Modèles", 3)}
        tabs["Monitoring"] = ("Supervision", 3)
        for english, (_, count) in tabs.items():  # each tab drawn once, shown
            page.get_by_role("tab", name=english).click()
            assert clipped_charts(page, count) == [], english
        page.get_by_role("tab", name="Classification").click()
        page.locator("#language").get_by_label("Français").check()
        expect(page.locator("#classify")).to_have_text("Classer")
        page.wait_for_timeout(1000)  # the hidden tabs' charts are redrawn
        for french, count in tabs.values():
            page.get_by_role("tab", name=french).click()
            assert clipped_charts(page, count) == [], f"clipped on {french}"
        shoot(page, "charts_after_language_switch")
    finally:
        page.context.close()


def test_on_a_phone_the_result_is_scrolled_into_view(browser, app_url, assets_dir):
    """Issue 17, defect 4: on a phone the result column stacks 1.6 screens below the button."""
    page = open_page(browser, app_url, PHONE, TIMEOUT_MS)
    try:
        pick_sample(page, load_samples(assets_dir)[1].title)
        expect(page.locator("#prediction h3")).to_be_in_viewport()
        shoot(page, "phone_result_in_view")
        page.evaluate("() => window.scrollTo(0, 0)")
        submit_url(page, "https://example.com/x.jpg")  # an error: its sentence is shown
        expect(page.locator("#classify-status")).to_contain_text(t("err_url_unreachable", "en"))
        expect(page.locator("#classify-status")).to_be_in_viewport()
    finally:
        page.context.close()
    page = open_page(browser, app_url, DESKTOP, TIMEOUT_MS)
    try:  # beside the form on a desktop: the page does not move
        pick_sample(page, load_samples(assets_dir)[1].title)
        expect(page.locator("#prediction h3")).to_be_in_viewport()
        page.wait_for_timeout(500)
        assert page.evaluate("() => window.scrollY") == 0
    finally:
        page.context.close()


TABS = {"en": ["Classification", "Batch", "Dashboard", "Models", "Monitoring"]}


@pytest.mark.parametrize(("size", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_screenshots_of_every_tab(browser, app_url, assets_dir, size, viewport):
    page = open_page(browser, app_url, viewport, TIMEOUT_MS)
    try:
        pick_sample(page, load_samples(assets_dir)[2].title)
        expect(page.locator("#prediction h3")).to_be_visible()
        for name in TABS["en"]:
            tab = page.get_by_role("tab", name=name)
            expect(tab).to_be_visible()  # reachable: no tab hidden behind an overflow menu
            tab.click()
            page.wait_for_timeout(800)
            shoot(page, f"{size}_{name.lower()}")
    finally:
        page.context.close()
