"""The whole product in a real browser: the real backend (its own uv environment, serving the
committed production model from artifacts/) and the real Gradio app, both on 127.0.0.1.

The other browser tests use a fake backend to stage failures; this one checks the two projects
agree on the HTTP contract with nothing faked. Skips when Chromium or uv is absent.
"""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from fake_backend import free_port
from flipkart_ui.app import launch
from flipkart_ui.assets import load_samples
from flipkart_ui.config import load_settings

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
UV = os.environ.get("UV") or shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
REGISTRY = REPO / "artifacts" / "registry.json"
TIMEOUT_MS = 60_000

for needed, why in (
    (CHROMIUM, "`apt-get install chromium` to run the browser tests"),
    (UV, "uv starts the backend in its own environment (`make uv`)"),
    (REGISTRY, "no production model committed (`make promote`)"),
):
    if not Path(needed).is_file():
        pytest.skip(f"{needed} missing: {why}", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    var = tmp_path_factory.mktemp("backend-var")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLIPKART_", "VIRTUAL_ENV"))}
    env |= {
        "FLIPKART_ARTIFACTS_ROOT": str(REPO / "artifacts"),
        "FLIPKART_DATABASE_PATH": str(var / "predictions.sqlite3"),
        "FLIPKART_INFERENCE_THREADS": "1",
    }
    command = [UV, "run", "--project", str(REPO / "backend"), "--locked", "--quiet"]
    command += ["flipkart-api", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = (var / "backend.log").open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240  # a first run may have to create the backend's env
    while True:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("the backend did not start:\n" + (var / "backend.log").read_text()[-3000:])
        time.sleep(0.5)
    yield url
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="module")
def app_url(backend, assets_dir):
    port = free_port()
    settings = load_settings(
        {
            "API_URL": backend,
            "ASSETS_DIR": str(assets_dir),
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "API_TIMEOUT_S": "30",
        }
    )
    demo = launch(settings, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def page(app_url):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        page.goto(app_url)
        expect(page.locator("#sample")).to_be_visible()
        yield page
        assert "Traceback" not in page.content()
        browser.close()


def production_classes(backend: str) -> list[str]:
    """The production model's classes, from the real /v1/models answer."""
    models = httpx.get(f"{backend}/v1/models", timeout=10).json()
    (entry,) = [m for m in models["models"] if m["run_id"] == models["production"]]
    return entry["card"]["classes"]


def test_sample_classified_by_the_production_model(page, backend, assets_dir):
    classes = production_classes(backend)
    watch = next(s for s in load_samples(assets_dir) if s.label == "Watches")
    page.locator("#sample input").click()
    page.get_by_role("option", name=watch.title).click()
    expect(page.locator("#prediction-details")).to_contain_text("with a confidence of")
    shown = page.locator("#prediction").inner_text()
    assert any(c in shown for c in classes), shown
    expect(page.locator("#probabilities g.point")).to_have_count(len(classes))
    expect(page.locator("#classify-status")).not_to_contain_text("❌")


def test_models_and_monitoring_tabs_read_the_real_backend(page, backend):
    models = httpx.get(f"{backend}/v1/models", timeout=10).json()
    page.get_by_role("tab", name="Models").click()
    page.get_by_role("button", name="Refresh").first.click()
    count = len(models["models"])
    expect(page.locator("#models-status")).to_contain_text(f"{count} models from the backend.")
    expect(page.locator("#production")).to_contain_text("In production: efficientnet_lite0")
    page.get_by_role("tab", name="Monitoring").click()
    page.get_by_role("button", name="Refresh").last.click()
    expect(page.locator("#stats-status")).to_contain_text("Statistics updated at")
    # the previous test's prediction was stored by the real backend and is counted
    stats = httpx.get(f"{backend}/v1/stats", timeout=10).json()
    assert stats["predictions"] >= 1, stats
    total = re.compile(rf"Predictions\s*{stats['predictions']}\b")
    expect(page.locator("#kpis")).to_contain_text(total)
