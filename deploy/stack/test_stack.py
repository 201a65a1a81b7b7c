"""docker-compose.yml end to end, in Docker: PostgreSQL, the backend, the frontend, TensorBoard
and the monitoring profile's Prometheus started from the images `make images` built, on
loopback ports; a product classified through the backend container, a sample classified in the
frontend container by Debian's Chromium, TensorBoard's runs listed, Prometheus scraping the
backend, and the predictions still there after `docker-compose restart backend`.

`make test-stack` runs it (after `make images`); without Docker, docker-compose or the images it
skips with the reason, unless STACK_REQUIRED=1 (.ci/run) makes that a failure. The tests run in
order on one stack, removed at the end (containers, network, volumes) however they end.
"""

import os
import sys
import time

import httpx
import pytest
from stack import ADMIN_KEY, REPO, Stack, missing

sys.path.insert(0, str(REPO / "frontend" / "tests"))  # the browser tests' helpers
from flipkart_ui.assets import load_samples
from ui_harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    chromium_missing,
    open_page,
    pick_sample,
    wait_for_count,
)

TIMEOUT_MS = 60_000
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
SAMPLE = sorted((REPO / "frontend" / "assets" / "images").glob("*.jpg"))[0]

if why := missing() or chromium_missing():
    if os.environ.get("STACK_REQUIRED") == "1":
        raise RuntimeError(f"STACK_REQUIRED=1 but the stack cannot run: {why}")
    pytest.skip(why, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("stack"))
    with stack.running():
        yield stack


@pytest.fixture(scope="module")
def api(stack):
    with httpx.Client(base_url=stack.url("API_PORT"), timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def first(api):
    """One product classified through the backend container: its answer."""
    with SAMPLE.open("rb") as image:
        answer = api.post("/v1/predict", files={"file": (SAMPLE.name, image, "image/jpeg")})
    assert answer.status_code == 200, answer.text
    return answer.json()


def stored(api) -> int:
    stats = api.get("/v1/stats", headers=ADMIN)
    assert stats.status_code == 200, stats.text
    return stats.json()["predictions"]


def test_the_backend_is_ready_on_postgres(api):
    ready = api.get("/ready").json()
    assert ready["status"] == "ready", ready  # "degraded" when the store is unreachable


def test_the_backend_container_classifies_a_product(api, first):
    classes = [p["label"] for p in first["probabilities"]]
    assert first["label"] in classes and first["id"] and first["feedback_token"]
    wait_for_count(lambda: stored(api), 1, timeout_s=30)


def test_the_frontend_container_classifies_a_sample_in_chromium(stack, api, first):
    expect = sync_api.expect
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = open_page(
                browser, stack.url("UI_PORT"), {"width": 1400, "height": 1000}, TIMEOUT_MS
            )
            watch = next(
                s for s in load_samples(REPO / "frontend" / "assets") if s.label == "Watches"
            )
            pick_sample(page, watch.title)
            expect(page.locator("#prediction-details")).to_contain_text("with a confidence of")
            expect(page.locator("#classify-status")).not_to_contain_text("❌")
            assert "Traceback" not in page.content()
        finally:
            browser.close()
    # The frontend's prediction went through the backend container into the store.
    wait_for_count(lambda: stored(api), 2, timeout_s=30)


def test_tensorboard_lists_the_committed_runs(stack):
    runs = httpx.get(f"{stack.url('TENSORBOARD_PORT')}/data/runs", timeout=30)
    assert runs.status_code == 200
    committed = {
        p.parent.relative_to(REPO / "runs").as_posix()
        for p in (REPO / "runs").rglob("events.out.tfevents.*")
    }
    assert committed and committed <= set(runs.json()), (sorted(committed), runs.json())


def test_prometheus_scrapes_the_backend(stack):
    url = f"{stack.url('PROMETHEUS_PORT')}/api/v1/targets"
    deadline = time.monotonic() + 60  # the first scrape comes within one interval (15 s)
    while True:
        targets = httpx.get(url, timeout=10).json()["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        if health.get("flipkart-api") == "up" or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert health == {"flipkart-api": "up"}, targets


def test_predictions_survive_a_backend_restart(stack, api, first):
    before = stored(api)
    stack.compose("restart", "backend", timeout_s=120)
    stack.wait_healthy(["backend"], timeout_s=120)
    assert stored(api) == before
    # The feedback token's secret lives in the store too: the prediction reads back with it.
    again = api.get(
        f"/v1/predictions/{first['id']}", headers={"X-Feedback-Token": first["feedback_token"]}
    )
    assert again.status_code == 200, again.text
    assert again.json()["label"] == first["label"]
