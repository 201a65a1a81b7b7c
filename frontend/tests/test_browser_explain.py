"""The Classification tab's Explain button in a real browser against the real backend (its own
uv environment, the committed production model): after a sample is classified, Explain shows
the backend's occlusion overlay (not the plain model view of /v1/preprocess) with a sentence on
its colours and cost; in French; nothing to explain after Clear or for text alone; at phone
width. Screenshots go to $SCREENSHOT_DIR."""

import base64
import io
from urllib.parse import urljoin

import httpx
import numpy as np
import pytest
from flipkart_ui.assets import load_samples
from flipkart_ui.i18n import category
from PIL import Image
from real_backend import missing
from test_browser_customer import PHONE
from ui_harness import chromium_missing, open_page, pick_sample, shoot

if why := chromium_missing() or missing():
    pytest.skip(why, allow_module_level=True)

import test_e2e_real_backend as e2e

# The real backend, the app on it and one page: test_e2e_real_backend's fixtures (module-scoped,
# so this module gets its own backend and page).
backend, app_url, page, TIMEOUT_MS = e2e.backend, e2e.app_url, e2e.page, e2e.TIMEOUT_MS

expect = pytest.importorskip("playwright.sync_api").expect


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def post(backend, route: str, path, **params) -> httpx.Response:
    with open(path, "rb") as file:
        answer = httpx.post(
            f"{backend.url}{route}", files={"file": file}, params=params, timeout=60
        )
    answer.raise_for_status()
    return answer


def explained(backend, path, label: str) -> dict:
    """The backend's own explanation of `label` (in any language: the class is found by name)."""
    classes = backend.production_classes()
    name = next(c for c in classes if c == label or category(c, "fr") == label)
    return post(backend, "/v1/explain", path, label=name).json()


def shown_overlay(page, app_url) -> np.ndarray:
    image = page.locator("#explanation img")
    expect(image).to_be_visible()
    source = image.get_attribute("src")
    if source.startswith("data:"):
        return pixels(base64.b64decode(source.split(",", 1)[1]))
    return pixels(httpx.get(urljoin(app_url, source), timeout=30).content)


def test_explain_shows_the_backends_overlay_not_the_plain_view(page, backend, app_url, assets_dir):
    sample = next(s for s in load_samples(assets_dir) if s.label == "Watches")
    expect(page.locator("#explain-box")).to_be_hidden()  # nothing classified yet
    pick_sample(page, sample.title)
    expect(page.locator("#prediction-details")).to_contain_text("with a confidence of")
    expect(page.locator("#explain")).to_have_text("Explain")
    expect(page.locator("#explain-hint")).to_contain_text("About a second")
    expect(page.locator("#explanation")).to_be_hidden()
    page.locator("#explain").click()
    status = page.locator("#explain-status")
    expect(status).to_contain_text("copies of the photo in")
    shown = shown_overlay(page, app_url)
    plain = pixels(post(backend, "/v1/preprocess", sample.path).content)
    label = page.locator("#prediction h3").inner_text()
    answer = explained(backend, sample.path, label)
    overlay = pixels(base64.b64decode(answer["overlay_png"]))
    assert shown.shape == plain.shape == overlay.shape
    assert np.abs(shown - plain).mean() > 5  # the heat map is laid over the view
    print(f"explain: max_drop {answer['max_drop']:.2e}, {answer['latency_ms']['total']:.0f} ms")
    if answer["max_drop"] > 0.01:  # below, the scaled heat is numerical noise between runs
        assert np.abs(shown - overlay).max() <= 2  # the backend's own overlay, lossless
    assert label in status.inner_text()
    assert f"{answer['images_run']} copies of the photo" in status.inner_text()
    assert "❌" not in status.inner_text()
    shoot(page, "explain_desktop_en")


def test_explain_in_french_and_nothing_for_text_alone(page):
    page.locator("#language").get_by_label("Français").check()
    expect(page.locator("#explain")).to_have_text("Expliquer")
    expect(page.locator("#explain-status")).to_contain_text("copies de la photo en")
    expect(page.locator("#explanation")).to_be_visible()  # the overlay stays
    shoot(page, "explain_desktop_fr")
    # Clear, then text alone (classified by the listing's text model): nothing to explain
    page.locator("#clear").click()
    expect(page.locator("#explain-box")).to_be_hidden()
    expect(page.locator("#explanation")).to_be_hidden()
    expect(page.locator("#by-input")).to_be_empty()  # the clear's answer has arrived
    title = page.locator("#title textarea, #title input").first
    title.fill("Montre analogique")
    expect(title).to_have_value("Montre analogique")
    page.locator("#classify").click()
    expect(page.locator("#by-input")).to_contain_text("pas de photo", ignore_case=True)
    expect(page.locator("#prediction h3")).to_be_visible()
    expect(page.locator("#explain-box")).to_be_hidden()
    page.locator("#language").get_by_label("English").check()


def test_explain_fits_a_phone(browser, app_url, assets_dir):
    page = open_page(browser, app_url, PHONE, TIMEOUT_MS)
    try:
        sample = load_samples(assets_dir)[2]
        pick_sample(page, sample.title)
        expect(page.locator("#prediction h3")).to_be_visible()
        page.locator("#explain").click()
        image = page.locator("#explanation img")
        expect(image).to_be_visible()
        box = image.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"]  # no horizontal overflow
        image.scroll_into_view_if_needed()
        shoot(page, "explain_phone_en")
    finally:
        page.context.close()
