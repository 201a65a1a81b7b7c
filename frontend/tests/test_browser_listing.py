"""A listing (photo + title/description) in a real browser: Debian's Chromium through Playwright,
the real Gradio app, and the real backend (its own uv environment) serving the committed
production model with a listing: the contract's tiny text model, which tells each class by the
words of its name, fused with it (real_backend.production_artifacts). A second real backend, on
the same model without a listing, shows what the page says when the text cannot be used.

What is checked: a sample prefills its title and description; a photo with its title shows the
photo-only, text-only and fused answers, each the backend's; text alone is classified; a title
over the backend's limit says so; the French page; the comparison fits a phone's width.
Screenshots go to $SCREENSHOT_DIR (default tests/output/screenshots).
"""

import httpx
import pytest
from flipkart_ui.assets import Sample, load_samples
from flipkart_ui.i18n import category, percent, t
from real_backend import RealBackend, missing, production_artifacts
from ui_harness import chromium_missing, open_page, pick_sample, running_app, shoot

TIMEOUT_MS = 60_000
DESKTOP = {"width": 1440, "height": 1000}
PHONE = {"width": 390, "height": 844}
ROWS = ("input_photo", "input_text", "input_both")

if why := chromium_missing() or missing():
    pytest.skip(why, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture(scope="module")
def browser_backend(tmp_path_factory):
    """The backend of conftest's `app_url`: the production model with a listing."""
    folder = tmp_path_factory.mktemp("listing-backend")
    with RealBackend(folder, production_artifacts(folder, listing=True)) as server:
        yield server


@pytest.fixture()
def page(browser, app_url, request):
    expect.set_options(timeout=TIMEOUT_MS)
    page = open_page(browser, app_url, DESKTOP, TIMEOUT_MS)
    yield page
    shoot(page, f"listing_{request.node.name}")
    assert "Traceback" not in page.content()
    page.context.close()


def watch(assets_dir) -> Sample:
    return next(s for s in load_samples(assets_dir) if s.label == "Watches")


def field(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def table_rows(page) -> list[list[str]]:
    """The comparison's rows as shown: [input, category, confidence]."""
    rows = page.locator("#by-input tbody tr")
    expect(rows).to_have_count(3)
    return [[cell.strip() for cell in row.locator("td").all_inner_texts()] for row in rows.all()]


def expected_rows(answer: dict, lang: str) -> list[list[str]]:
    """The comparison rows of a backend answer: each input's best category and probability."""
    rows = []
    for name, row in zip(("image", "text", "fused"), ROWS, strict=True):
        best = max(answer["by_input"][name], key=lambda p: p["probability"])
        rows.append(
            [t(row, lang), category(best["label"], lang), percent(best["probability"], lang)]
        )
    rows[2][0] += f" — {t('the_answer', lang)}"
    return rows


def test_a_sample_prefills_its_title_and_photo_and_title_give_three_answers(
    page, browser_backend, assets_dir
):
    sample = watch(assets_dir)
    pick_sample(page, sample.title)
    expect(field(page, "title")).to_have_value(sample.listing_title)
    expect(field(page, "description")).to_have_value(sample.description)
    expect(page.locator("#by-input")).to_contain_text("the answer")
    # the same request straight to the backend: the page shows its three answers
    with sample.path.open("rb") as image:
        answer = httpx.post(
            f"{browser_backend.url}/v1/predict",
            files={"file": (sample.image, image.read())},
            data={"title": sample.listing_title, "description": sample.description},
            timeout=30,
        ).json()
    assert answer["inputs_used"] == ["image", "title", "description"]
    assert table_rows(page) == expected_rows(answer, "en")
    expect(page.locator("#prediction")).to_have_text(answer["label"])
    expect(page.locator("#probabilities g.point")).to_have_count(7)  # the fused probabilities
    expect(page.locator("#by-input")).to_contain_text(
        "Read by the model: photo, title, description."
    )
    # the tiny text model reads "Watches" in the title: the text-only answer
    assert table_rows(page)[1][1] == "Watches"
    expect(page.locator("#classify-status")).to_be_empty()


def test_a_thumbnail_click_classifies_its_sample_as_the_dropdown_does(page, assets_dir):
    samples = load_samples(assets_dir)
    sample = watch(assets_dir)
    thumbnails = page.locator("#sample-gallery img")
    expect(thumbnails).to_have_count(len(samples))
    thumbnails.nth(samples.index(sample)).click()
    expect(field(page, "title")).to_have_value(sample.listing_title)
    expect(field(page, "description")).to_have_value(sample.description)
    expect(page.locator("#sample input")).to_have_value(sample.title)  # the dropdown follows
    expect(page.locator("#by-input")).to_contain_text("the answer")
    rows = table_rows(page)
    assert rows[1][1] == category(sample.label, "en")  # the text-only row names its category
    expect(page.locator("#prediction")).to_have_text(rows[2][1])  # the fused answer
    expect(page.locator("#classify-status")).to_be_empty()


def test_text_alone_is_classified(page):
    field(page, "title").fill("Analog Watches for Men")
    page.locator("#classify").click()
    expect(page.locator("#prediction")).to_have_text("Watches")
    rows = table_rows(page)
    assert [row[:2] for row in rows] == [
        ["Photo only", "no photo"],
        ["Text only — the answer", "Watches"],
        ["Photo + text", "no photo"],
    ]
    expect(page.locator("#by-input")).to_contain_text("Read by the model: title.")
    expect(page.locator("#prediction-details")).to_contain_text("text-tiny")
    expect(page.locator("#classify-status")).to_be_empty()
    expect(page.locator("#transformed img")).to_have_count(0)  # no photo, no preview


def test_a_title_over_the_limit_says_so_and_clears_the_result(page, assets_dir):
    pick_sample(page, watch(assets_dir).title)
    expect(page.locator("#by-input")).to_contain_text("the answer")
    field(page, "title").fill("watch " * 200)  # 1,200 characters: the backend takes 1,000
    page.locator("#classify").click()
    status = page.locator("#classify-status")
    expect(status).to_contain_text(t("err_text_too_long", "en"))
    assert "text_too_long" not in status.inner_text() and "1000" not in status.inner_text()
    expect(page.locator("#by-input")).to_be_empty()
    expect(page.locator("#prediction")).to_be_empty()


def test_the_french_page(browser, app_url, assets_dir):
    page = open_page(browser, app_url, DESKTOP, TIMEOUT_MS, "fr")
    try:
        expect(page.locator("#title")).to_contain_text("Titre du produit (facultatif)")
        expect(page.locator("#description")).to_contain_text("Description du produit (facultative)")
        expect(page.locator("#clear")).to_have_text("Effacer")
        pick_sample(page, watch(assets_dir).title)
        expect(page.locator("#by-input")).to_contain_text("la réponse")
        rows = table_rows(page)
        assert [row[0] for row in rows] == [
            "Photo seule",
            "Texte seul",
            "Photo + texte — la réponse",
        ]
        assert rows[1][1] == "Montres" and rows[1][2].endswith("\u202f%")
        shown = page.locator("#by-input").inner_text()
        for english in ("Photo only", "Text only", "the answer", "Read by the model", "Watches"):
            assert english not in shown
        shoot(page, "listing_french")
        page.locator("#clear").click()
        expect(page.locator("#by-input")).to_be_empty()
        expect(field(page, "title")).to_have_value("")
    finally:
        page.context.close()


def test_the_comparison_fits_a_phone(browser, app_url, assets_dir):
    page = open_page(browser, app_url, PHONE, TIMEOUT_MS)
    try:
        pick_sample(page, watch(assets_dir).title)
        expect(page.locator("#by-input table")).to_be_visible()
        for elem_id in ("title", "description", "by-input"):
            box = page.locator(f"#{elem_id}").bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (elem_id, box)
        overflow = page.locator("#by-input table").evaluate(
            "table => table.scrollWidth - table.closest('#by-input').clientWidth"
        )
        assert overflow <= 1, f"the comparison is {overflow} px wider than the phone's column"
        cut = page.locator("#by-input th, #by-input td").evaluate_all(CUT_WORDS)
        assert not cut, f"words broken inside on a phone: {cut}"
        shoot(page, "listing_phone")
    finally:
        page.context.close()


# The words of each cell wider than the cell's room (so broken inside: "Confidenc|e"), each
# measured in its own element's font.
CUT_WORDS = """cells => cells.flatMap(cell => {
  const style = getComputedStyle(cell);
  const room = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  const cut = [];
  for (let text = walker.nextNode(); text; text = walker.nextNode()) {
    for (const word of text.nodeValue.split(/\\s+/).filter(Boolean)) {
      const probe = document.createElement("span");
      probe.style.cssText = "position:absolute;visibility:hidden;white-space:nowrap";
      probe.textContent = word;
      text.parentElement.appendChild(probe);
      if (probe.getBoundingClientRect().width > room + 0.5) cut.push(word);
      probe.remove();
    }
  }
  return cut;
})"""


@pytest.fixture(scope="module")
def plain_app_url(tmp_path_factory, assets_dir):
    """The app on a backend with the production model alone: registry.json names no listing."""
    folder = tmp_path_factory.mktemp("plain-backend")
    with (
        RealBackend(folder, production_artifacts(folder, listing=False)) as server,
        running_app(server.url, assets_dir, api_timeout_s=30) as url,
    ):
        yield url


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_without_a_listing_the_page_says_the_text_was_not_used(
    browser, plain_app_url, assets_dir, lang
):
    page = open_page(browser, plain_app_url, DESKTOP, TIMEOUT_MS, lang)
    try:
        pick_sample(page, watch(assets_dir).title)
        comparison = page.locator("#by-input")
        expect(comparison).to_contain_text(t("text_not_used", lang))
        rows = table_rows(page)
        assert rows[0][0] == f"{t('input_photo', lang)} — {t('the_answer', lang)}"
        assert rows[1][1] == rows[2][1] == t("missing_text_unused", lang)
        assert "registry.json" not in comparison.inner_text()  # not the backend's own note
        shoot(page, f"listing_not_used_{lang}")
        page.locator("#clear").click()
        # the clear's answer must arrive first, or it wipes the title typed meanwhile
        expect(comparison).to_be_empty()
        expect(field(page, "title")).to_have_value("")
        field(page, "title").fill("Analog Watches for Men")
        expect(field(page, "title")).to_have_value("Analog Watches for Men")
        page.locator("#classify").click()  # text alone: nothing can read it here
        expect(page.locator("#classify-status")).to_contain_text(t("err_text_unavailable", lang))
    finally:
        page.context.close()
