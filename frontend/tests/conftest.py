import os
import random
import sys
from pathlib import Path

import pandas as pd
import pytest
from flipkart_contract.testing import FLIPKART_CLASSES, image_bytes

sys.path.insert(0, str(Path(__file__).parent))  # tests import fake_backend

from fake_backend import FakeBackend

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from ui_harness import CHROMIUM, CHROMIUM_ARGS, running_app


def make_assets(root: Path, per_class: int = 6) -> Path:
    """A tiny assets folder with the contract's columns: 6 rows and 2 samples per class."""
    rng = random.Random(0)
    rows, samples = [], []
    (root / "images").mkdir(parents=True)
    for c, label in enumerate(FLIPKART_CLASSES):
        for i in range(per_class):
            width, height = rng.choice([(500, 500), (400, 300), (300, 512)])
            image = f"{c}_{i}.jpg"
            rows.append(
                {
                    "image": image,
                    "label": label,
                    "product_name": f"{label} product {i}",
                    "brand": f"brand{i % 3}",
                    "price": None if i == 5 else 100.0 * (c + 1) + i,
                    "description_length": 200 + i,
                    "original_width": width,
                    "original_height": height,
                    "original_bytes": 20_000 + 1000 * i,
                    "aspect_ratio": width / height,
                    "split": "test" if i < 2 else "train",
                }
            )
            if i < 2:
                colour = (30 * c, 255 - 30 * c, 60 * i)
                (root / "images" / image).write_bytes(
                    image_bytes((24 + i, 20), "JPEG", color=colour)
                )
                samples.append(
                    {
                        "image": image,
                        "label": label,
                        "product_name": f"{label} product {i}",
                        "split": "test",
                        "title": f"{label} product {i}",
                        "description": f"A {label.lower()} item, number {i}.",
                    }
                )
    pd.DataFrame(rows).to_csv(root / "dataset_dashboard.csv", index=False)
    pd.DataFrame(samples).to_csv(root / "sampled.csv", index=False)
    return root


@pytest.fixture(scope="session")
def assets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_assets(tmp_path_factory.mktemp("assets"))


@pytest.fixture()
def backend():
    server = FakeBackend().start()
    yield server
    server.stop()


# The browser suites' fixtures (test_browser*.py; the real-backend suite swaps app_url's backend).
@pytest.fixture(scope="module")
def browser_backend():
    server = FakeBackend().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app_url(browser_backend, assets_dir):
    with running_app(browser_backend.url, assets_dir, api_timeout_s=6) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright (the modules skip first when either is missing)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
