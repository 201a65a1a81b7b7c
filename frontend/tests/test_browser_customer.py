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


# What is wrong with each chart on the shown tab: drawn narrower or wider than its box, a bar,
# box or point trace with no mark drawn inside the plot, a mark or the legend cut by the chart's
# edge. [] when every chart is whole.
CHART_PROBLEMS = """() => {
  const problems = [];
  const inside = (r, box) => r.left >= box.left - 2 && r.right <= box.right + 2 &&
                             r.top >= box.top - 2 && r.bottom <= box.bottom + 2;
  document.querySelectorAll(".js-plotly-plot").forEach((plot) => {
    if (plot.offsetParent === null) return;  // not on the shown tab
    const holder = plot.closest("[id^=chart-]");
    const id = holder ? holder.id : "?";
    const svg = plot.querySelector(".main-svg");
    if (!svg) { problems.push([id, "not drawn"]); return; }
    const box = holder.getBoundingClientRect();
    const drawn = svg.getBoundingClientRect();
    if (Math.abs(drawn.width - holder.clientWidth) > 2) {
      problems.push([id, `drawn ${Math.round(drawn.width)} px wide in ${holder.clientWidth}`]);
    }
    const area = plot.querySelector(".cartesianlayer .bg, .draglayer .nsewdrag");
    const plotArea = area ? area.getBoundingClientRect() : drawn;
    plot.querySelectorAll(".barlayer .trace, .boxlayer .trace, .scatterlayer .trace")
      .forEach((trace, index) => {
        const marks = [...trace.querySelectorAll(".point path, path.box, .point")]
          .map((mark) => mark.getBoundingClientRect())
          .filter((r) => r.width > 0 || r.height > 0);
        if (trace.closest(".scatterlayer") && !trace.querySelector(".point")) return;  // lines
        if (!marks.length) problems.push([id, `trace ${index}: nothing drawn`]);
        else if (!marks.some((r) => inside(r, plotArea) && inside(r, box))) {
          problems.push([id, `trace ${index}: drawn outside the plot`]);
        }
      });
    const legend = plot.querySelector(".legend");
    const key = legend && legend.getBoundingClientRect();
    if (key && !(inside(key, drawn) && inside(key, box))) {
      problems.push([id, "legend cut"]);
    }
  });
  return problems;
}"""


def chart_problems(page, count: int) -> list:
    """The shown tab's chart problems (`CHART_PROBLEMS`), once `count` charts are drawn whole
    or after 8 s."""
    shown = "document.querySelectorAll('[role=tabpanel] .js-plotly-plot .main-svg')"
    ready = f"() => [...{shown}].filter((svg) => svg.closest('.js-plotly-plot')"
    ready += f".offsetParent !== null).length >= {count} && ({CHART_PROBLEMS})().length === 0"
    with contextlib.suppress(sync_api.TimeoutError):  # said below, chart by chart
        page.wait_for_function(ready, timeout=8000)
    drawn = page.evaluate(
        f"() => [...{shown}].filter((svg) => svg.closest('.js-plotly-plot')"
        ".offsetParent !== null).length"
    )
    missing = [["tab", f"{drawn} of {count} charts drawn"]] if drawn < count else []
    return missing + page.evaluate(CHART_PROBLEMS)


TABS_CHARTS = {"Dashboard": ("Tableau de bord", 5), "Models": ("Modèles", 4)}
TABS_CHARTS["Monitoring"] = ("Supervision", 6)


def test_charts_redrawn_in_a_hidden_tab_keep_their_full_width(browser, app_url):
    """Issue 17, defect 3: switching language redraws every chart, also those of the hidden
    tabs; Plotly drew those at its default 700 px (bars cut, legends cut, half width)."""
    page = open_page(browser, app_url, DESKTOP, TIMEOUT_MS)
    try:
        for english, (_, count) in TABS_CHARTS.items():  # each tab drawn once, shown
            page.get_by_role("tab", name=english).click()
            assert chart_problems(page, count) == [], english
        page.get_by_role("tab", name="Classification").click()
        page.locator("#language").get_by_label("Français").check()
        expect(page.locator("#classify")).to_have_text("Classer")
        page.wait_for_timeout(1000)  # the hidden tabs' charts are redrawn
        for french, count in TABS_CHARTS.values():
            page.get_by_role("tab", name=french).click()
            assert chart_problems(page, count) == [], f"clipped on {french}"
        shoot(page, "charts_after_language_switch")
    finally:
        page.context.close()


def test_charts_updated_during_quick_tab_switches_are_whole(browser, app_url):
    """Issue 17, defect 3, the other way: a filter's charts arrive while the user has already
    gone on to another tab (or the language changes there), and come back."""
    page = open_page(browser, app_url, DESKTOP, TIMEOUT_MS)
    try:
        page.get_by_role("tab", name="Dashboard").click()
        expect(page.locator("#chart-counts g.point")).to_have_count(7)
        for label, then in (("Watches", "Models"), ("Computers", "Monitoring")):
            page.locator("#category-filter").get_by_label(label).uncheck()
            page.get_by_role("tab", name=then).click()  # before the new charts arrive
            page.wait_for_timeout(1500)
            page.get_by_role("tab", name="Dashboard").click()
            assert chart_problems(page, 5) == [], f"after {then}"
        expect(page.locator("#chart-counts g.point")).to_have_count(5)
        page.locator("#category-filter").get_by_label("Watches").check()
        page.get_by_role("tab", name="Models").click()
        page.locator("#language").get_by_label("Français").check()
        assert chart_problems(page, TABS_CHARTS["Models"][1]) == [], "Modèles"
        page.get_by_role("tab", name="Tableau de bord").click()
        assert chart_problems(page, 5) == [], "Tableau de bord"
        expect(page.locator("#chart-counts g.point")).to_have_count(6)
    finally:
        page.context.close()


def result_top(page) -> float:
    """Where the result column begins, in the viewport's pixels."""
    return page.locator("#result").evaluate("el => el.getBoundingClientRect().top")


def test_on_a_phone_the_result_is_scrolled_into_view(browser, app_url, assets_dir):
    """Issue 17, defect 4: on a phone the result column stacks 1.6 screens below the button."""
    page = open_page(browser, app_url, PHONE, TIMEOUT_MS)
    try:
        pick_sample(page, load_samples(assets_dir)[1].title)
        expect(page.locator("#prediction h3")).to_be_in_viewport(ratio=1)
        shoot(page, "phone_result_in_view")
        # the Classify button, pressed where it is (under the form): the result comes into view
        heading = page.locator("#prediction h3")
        before = heading.inner_text()
        page.locator("#classify").scroll_into_view_if_needed()
        expect(heading).not_to_be_in_viewport()
        page.locator("#classify").click()
        expect(page.locator("#classify-status")).to_be_empty()
        expect(heading).to_have_text(before)
        expect(heading).to_be_in_viewport(ratio=1)  # the category named, whole
        assert result_top(page) >= 0 and result_top(page) < PHONE["height"] / 2
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
