"""The Classification tab's model switch and two-model comparison in a real browser (Debian's
Chromium) against the real backend, nothing faked: a backend serving two models (the committed
production model, and the same network behind a centre crop: `real_backend.two_model_artifacts`)
fills both dropdowns, production first; "compare with" shows both models' top categories side
by side, equal to each model's own answer over HTTP, in English and French; switching the
model sends `model=` (the backend counts the prediction under that run); a backend serving one
model shows a note instead of an empty dropdown; at phone width the controls fit. The backend
takes 4 images per batch request: test_browser_batch uses these fixtures too.
Screenshots `compare_*.png` in $SCREENSHOT_DIR."""

import json
import re

import httpx
import pytest
from flipkart_contract import parse_run_id
from flipkart_ui import comparison
from flipkart_ui.assets import load_samples
from flipkart_ui.i18n import category, percent
from real_backend import (
    REGISTRY,
    SECOND_MODEL,
    RealBackend,
    missing,
    production_artifacts,
    two_model_artifacts,
)
from test_browser_customer import PHONE
from ui_harness import (
    choose,
    chromium_missing,
    open_page,
    pick_sample,
    running_app,
    shoot,
    wait_for_count,
)

TIMEOUT_MS = 60_000
DESKTOP = {"width": 1400, "height": 1000}

if why := chromium_missing() or missing():
    pytest.skip(why, allow_module_level=True)
expect = pytest.importorskip("playwright.sync_api").expect


PER_REQUEST = 4  # images per batch request: test_browser_batch's backend is this one


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two-models")
    env = {"FLIPKART_MAX_BATCH_IMAGES": str(PER_REQUEST)}
    with RealBackend(folder, two_model_artifacts(folder), env=env) as server:
        yield server


@pytest.fixture(scope="module")
def app_url(backend, assets_dir):
    with running_app(backend.url, assets_dir, api_timeout_s=30) as url:
        yield url


@pytest.fixture(scope="module")
def page(browser, app_url):
    expect.set_options(timeout=TIMEOUT_MS)
    page = open_page(browser, app_url, DESKTOP, TIMEOUT_MS)
    yield page
    assert "Traceback" not in page.content()
    page.context.close()


def names(backend, lang: str) -> dict[str, str]:
    """run_id -> the name the dropdowns show, from the backend's own model list."""
    models = httpx.get(f"{backend.url}/v1/models", timeout=10).json()
    return comparison.model_names({"response": models}, lang)


def top_cells(backend, path, model: str, lang: str) -> list[str]:
    """The model's own top three over HTTP, as the comparison writes them."""
    with open(path, "rb") as file:
        answer = httpx.post(
            f"{backend.url}/v1/predict", files={"file": file}, params={"model": model}, timeout=60
        ).json()
    ranked = sorted(answer["probabilities"], key=lambda p: -p["probability"])[:3]
    return [f"{category(p['label'], lang)} {percent(p['probability'], lang)}" for p in ranked]


def shown_table(page) -> list[list[str]]:
    return page.locator("#model-comparison table").evaluate(
        "t => [...t.rows].map(r => [...r.cells].map(c => c.innerText.trim()))"
    )


def expected_table(backend, path, lang: str) -> list[list[str]]:
    """The comparison of the production and the second model, from their own answers."""
    production, shown = production_of(backend), names(backend, lang)
    first = top_cells(backend, path, production, lang)
    second = top_cells(backend, path, SECOND_MODEL, lang)
    assert first != second  # the two models see other pixels
    ranks = [[str(rank), *pair] for rank, pair in enumerate(zip(first, second, strict=True), 1)]
    return [["#", shown[production], shown[SECOND_MODEL]], *ranks]


def production_of(backend) -> str:
    return httpx.get(f"{backend.url}/v1/models", timeout=10).json()["production"]


def test_two_models_answer_side_by_side(page, backend, assets_dir):
    production, shown = production_of(backend), names(backend, "en")
    expect(page.locator("#model input")).to_have_value(shown[production])
    expect(page.locator("#models-note")).to_be_empty()
    choose(page, "compare-model", shown[SECOND_MODEL])
    expect(page.locator("#compare-model input")).to_have_value(shown[SECOND_MODEL])
    sample = load_samples(assets_dir)[0]
    pick_sample(page, sample.title)
    expected = expected_table(backend, sample.path, "en")
    expect(page.locator("#model-comparison")).to_contain_text(expected[1][2])
    assert shown_table(page) == expected
    expect(page.locator("#prediction")).to_contain_text(expected[1][1].rsplit(" ", 1)[0])
    shoot(page, "compare_desktop_en")


def test_the_comparison_in_french(page, backend, assets_dir):
    page.locator("#language").get_by_label("Français").check()
    expect(page.locator("#model-comparison")).to_contain_text("Deux modèles, la même entrée")
    sample = load_samples(assets_dir)[0]
    shown = names(backend, "fr")
    expect(page.locator("#model input")).to_have_value(shown[production_of(backend)])
    assert shown_table(page) == expected_table(backend, sample.path, "fr")
    shoot(page, "compare_desktop_fr")
    page.locator("#language").get_by_label("English").check()
    expect(page.locator("#model-comparison")).to_contain_text("Two models, the same input")


def predictions_by(backend, run_id: str) -> int:
    return backend.stats()["by_model"].get(run_id, 0)


def test_switching_the_model_sends_it(page, backend, assets_dir):
    shown = names(backend, "en")
    before = predictions_by(backend, SECOND_MODEL)
    choose(page, "model", shown[SECOND_MODEL])
    # the chosen model is no longer a model to compare with: no comparison
    expect(page.locator("#compare-model input")).to_have_value("— no comparison —")
    sample = load_samples(assets_dir)[5]
    pick_sample(page, sample.title)
    expect(page.locator("#prediction-details")).to_contain_text("with a confidence of")
    expect(page.locator("#model-comparison")).to_be_empty()
    wait_for_count(lambda: predictions_by(backend, SECOND_MODEL), before + 1)
    expected = top_cells(backend, sample.path, SECOND_MODEL, "en")[0].rsplit(" ", 1)
    expect(page.locator("#prediction")).to_contain_text(expected[0])
    expect(page.locator("#prediction-details")).to_contain_text(expected[1])
    choose(page, "model", shown[production_of(backend)])
    expect(page.locator("#compare-model input")).to_have_value("— no comparison —")


def test_the_controls_fit_a_phone(browser, app_url, backend, assets_dir):
    page = open_page(browser, app_url, PHONE, TIMEOUT_MS)
    try:
        shown = names(backend, "en")
        expect(page.locator("#model input")).to_have_value(shown[production_of(backend)])
        choose(page, "compare-model", shown[SECOND_MODEL])
        pick_sample(page, load_samples(assets_dir)[2].title)
        expect(page.locator("#model-comparison table")).to_be_visible()
        for selector in ("#model", "#compare-model", "#model-comparison table"):
            box = page.locator(selector).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], selector
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.locator("#model-comparison").scroll_into_view_if_needed()
        shoot(page, "compare_phone_en")
    finally:
        page.context.close()


@pytest.fixture(scope="module")
def one_model_url(tmp_path_factory, assets_dir):
    """The app on a backend serving the production model alone."""
    folder = tmp_path_factory.mktemp("one-model")
    artifacts = production_artifacts(folder, listing=False)  # not the checkout's: it may hold more
    with RealBackend(folder, artifacts) as server, running_app(server.url, assets_dir, 30) as url:
        yield url


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_one_model_shows_a_note_not_an_empty_dropdown(browser, one_model_url, lang):
    page = open_page(browser, one_model_url, DESKTOP, TIMEOUT_MS, lang)
    try:
        sentence = {"en": "The service has one model", "fr": "Le service n'a qu'un modèle"}
        expect(page.locator("#models-note")).to_contain_text(sentence[lang])
        expect(page.locator("#compare-model")).to_be_hidden()
        _, architecture, mode = parse_run_id(json.loads(REGISTRY.read_text())["production"])
        production = re.compile(rf"^(Production: |En production : ){architecture} {mode}, ")
        expect(page.locator("#model input")).to_have_value(production)
        shoot(page, f"compare_one_model_{lang}")
    finally:
        page.context.close()
