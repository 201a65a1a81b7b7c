"""`POST /v1/explain`: the occlusion heatmap is where the model looks (a synthetic model that
reads only one region), its inputs and refusals are predict's, and its cost is bounded (grid
limits, the rate limit's units, one explanation at a time, the decode budget)."""

import base64
import io

import numpy as np
import pytest
from conftest import make_settings
from fastapi.testclient import TestClient
from flipkart_api.app import create_app
from flipkart_api.catalog import load_model
from flipkart_api.errors import ApiError
from flipkart_api.explain import occluded, overlay_png, patch_edges
from flipkart_api.inputs import Source
from flipkart_api.memory import DecodeBudget
from flipkart_api.metrics import Metrics
from flipkart_api.services.explanation import explain
from flipkart_api.services.prediction import PredictionService
from flipkart_contract.testing import FLIPKART_CLASSES, encode, gradient_image, image_bytes
from helpers import pixels_model, write_model, write_registry
from onnx import helper, numpy_helper
from PIL import Image
from test_memory import HUGE

REGION = "20261123-121500_region_net_finetune"
SIZE = 32
ROWS, COLS = (8, 16), (16, 24)  # the one region the synthetic model reads: cell (1, 2) of 4×4
DARK = image_bytes((64, 64), color=(30, 30, 30))
GRADIENT = encode(gradient_image((300, 200)), "PNG")


def region_model(num_classes: int = len(FLIPKART_CLASSES)) -> object:
    """logit 0 = 10 − 10 · mean(region) / 255 (dark region: class 0), every other logit 5: only
    the region rows 8–16, columns 16–24 of the 32 × 32 input matters, and only to class 0."""
    const = numpy_helper.from_array
    nodes = [
        helper.make_node("Slice", ["pixels", "starts", "ends", "axes"], ["region"]),
        helper.make_node("ReduceMean", ["region"], ["mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Mul", ["mean", "minus_scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "ten"], ["first"]),
        helper.make_node("Unsqueeze", ["first", "one_axis"], ["first_col"]),
        helper.make_node("Mul", ["first_col", "zeros"], ["zero_cols"]),
        helper.make_node("Add", ["zero_cols", "fives"], ["other_cols"]),
        helper.make_node("Concat", ["first_col", "other_cols"], ["logits"], axis=1),
    ]
    initializers = [
        const(np.array([ROWS[0], COLS[0]], np.int64), "starts"),
        const(np.array([ROWS[1], COLS[1]], np.int64), "ends"),
        const(np.array([1, 2], np.int64), "axes"),
        const(np.array(-10 / 255, np.float32), "minus_scale"),
        const(np.array(10, np.float32), "ten"),
        const(np.array([1], np.int64), "one_axis"),
        const(np.zeros((1, num_classes - 1), np.float32), "zeros"),
        const(np.full((1, num_classes - 1), 5, np.float32), "fives"),
    ]
    return pixels_model("region", nodes, initializers, num_classes)


@pytest.fixture
def region_artifacts(tmp_path):
    root = tmp_path / "artifacts"
    write_model(root, REGION, method="pad", size=SIZE, graph=region_model())
    write_registry(root, REGION, [REGION])
    return root


@pytest.fixture
def region_client(region_artifacts):
    with TestClient(create_app(make_settings(region_artifacts))) as client:
        yield client


def post(client, data: bytes = DARK, **params) -> object:
    return client.post("/v1/explain", files={"file": ("x.png", data, "image/png")}, params=params)


def test_the_heat_is_on_the_one_region_the_model_reads(region_client) -> None:
    body = post(region_client, grid=4).json()
    drops = np.array(body["drops"])
    assert body["label"] == body["predicted"] == FLIPKART_CLASSES[0]
    assert drops.shape == (4, 4) and body["images_run"] == 17
    assert np.unravel_index(np.argmax(drops), drops.shape) == (1, 2)
    # Hiding the region (white) sends logit 0 from 8.8 to 0: nearly all of p(class 0) is lost.
    assert drops[1, 2] == pytest.approx(body["probability"] - 1 / (1 + 6 * np.exp(5)), abs=1e-4)
    assert drops[1, 2] > 0.8
    others = np.delete(drops.ravel(), 1 * 4 + 2)
    assert np.abs(others).max() < 1e-6  # pixels the model does not read change nothing


def test_a_finer_grid_splits_the_region_into_its_four_patches(region_client) -> None:
    body = post(region_client, grid=8).json()
    drops = np.array(body["drops"])
    hot = {(int(r), int(c)) for r, c in zip(*np.nonzero(drops > 1e-3), strict=True)}
    assert hot == {(2, 4), (2, 5), (3, 4), (3, 5)}
    assert np.ptp([drops[cell] for cell in hot]) < 1e-4  # each hides a quarter of the region
    assert body["max_drop"] == pytest.approx(drops.max(), abs=1e-6)


def test_another_class_is_explained_when_asked(region_client) -> None:
    label = FLIPKART_CLASSES[3]
    body = post(region_client, grid=4, label=label).json()
    drops = np.array(body["drops"])
    assert body["label"] == label and body["predicted"] == FLIPKART_CLASSES[0]
    # Hiding the region removes class 0's evidence: every other class gains there.
    assert drops[1, 2] < -0.05 and body["min_drop"] == pytest.approx(drops[1, 2], abs=1e-6)


def test_the_overlay_is_the_model_view_with_the_heat_on_the_region(region_client) -> None:
    body = post(region_client, grid=4).json()
    png = Image.open(io.BytesIO(base64.b64decode(body["overlay_png"])))
    assert png.format == "PNG" and png.size == (SIZE, SIZE) and body["image_size"] == [32, 32]
    pixels = np.asarray(png.convert("RGB"), np.int32)
    hot, cold = pixels[12, 20], pixels[28, 4]
    assert hot[0] > cold[0] + 60 and hot[1] > cold[1] + 60  # Cividis: yellow vs dark blue
    assert body["occlusion_colour"] == [255, 255, 255]


def test_json_base64_and_the_model_parameter_are_accepted(region_client) -> None:
    encoded = base64.b64encode(DARK).decode()
    response = region_client.post("/v1/explain", json={"image": encoded}, params={"model": REGION})
    assert response.status_code == 200, response.text
    assert response.json()["model"]["run_id"] == REGION
    assert len(response.json()["drops"]) == 8  # FLIPKART_EXPLAIN_GRID's default


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    ("params", "data", "status", "code"),
    [
        ({}, b"not an image at all", 422, "not_an_image"),
        ({}, GRADIENT[: len(GRADIENT) // 2], 422, "corrupt_image"),
        ({}, HUGE, 413, "too_many_pixels"),
        ({"label": "Spaceships"}, DARK, 422, "unknown_label"),
        ({"label": "Spaceships"}, b"not an image", 422, "unknown_label"),
        ({"grid": 1}, DARK, 422, "invalid_request"),
        ({"grid": 13}, DARK, 422, "invalid_request"),
        ({"grid": "x"}, DARK, 422, "invalid_request"),
        ({"model": "nope"}, DARK, 404, "unknown_model"),
    ],
)
def test_hostile_input_gets_a_4xx(artifacts, params, data, status, code) -> None:
    settings = make_settings(artifacts, decode_budget_bytes=8 * 1024 * 1024)
    with TestClient(create_app(settings)) as client:
        assert_error(post(client, data, **params), status, code)
        assert post(client, DARK).status_code == 200  # and the service still explains


def test_no_body_several_files_and_a_wrong_content_type(client) -> None:
    assert_error(client.post("/v1/explain"), 400, "empty_body")
    two = [("file", ("a.png", DARK, "image/png")), ("file", ("b.png", DARK, "image/png"))]
    assert_error(client.post("/v1/explain", files=two), 422, "several_images")
    plain = client.post("/v1/explain", content=b"x", headers={"content-type": "text/plain"})
    assert_error(plain, 415, "unsupported_media_type")
    assert_error(client.get("/v1/explain"), 405, "method_not_allowed")


def test_an_explanation_costs_several_rate_limit_units(artifacts) -> None:
    settings = make_settings(
        artifacts, rate_limit_per_minute=1, rate_limit_burst=16, explain_rate_cost=8
    )
    with TestClient(create_app(settings)) as client:
        assert post(client).status_code == 200
        assert post(client).status_code == 200
        refused = post(client)
        assert_error(refused, 429, "rate_limited")
        assert int(refused.headers["retry-after"]) >= 1


@pytest.mark.anyio
async def test_a_second_explanation_waits_then_gets_503(artifacts) -> None:
    settings = make_settings(artifacts, decode_wait_s=0.05)
    model = load_model(artifacts / "models" / "20261123-101500_tiny_net_finetune", settings)
    service = PredictionService(settings, Metrics(), None, DecodeBudget(1 << 30, 0.05))
    slots = DecodeBudget(1, 0.05, busy_message="busy")
    async with slots.reserve(1):  # an explanation in progress
        with pytest.raises(ApiError) as refused:
            await explain(service, slots, Source(data=DARK), model, None, 4, 16)
    assert refused.value.status == 503 and refused.value.code == "server_busy"
    assert refused.value.headers["Retry-After"] == "1"
    done = await explain(service, slots, Source(data=DARK), model, None, 4, 16)
    assert len(done["drops"]) == 4 and slots.in_use == 0 and service.budget.in_use == 0
    await model.batcher.drain()


def test_the_occluded_batch_hides_exactly_one_patch_each() -> None:
    pixels = np.zeros((10, 7, 3), np.float32)
    batch = occluded(pixels, 3, (255, 0, 0), range(9))
    assert batch.shape == (9, 10, 7, 3)
    rows, cols = patch_edges(10, 3), patch_edges(7, 3)
    assert list(rows) == [0, 3, 7, 10] and list(cols) == [0, 2, 5, 7]
    covered = (batch[..., 0] == 255).sum(axis=0)
    assert (covered == 1).all()  # the patches tile the image: every pixel hidden exactly once


def test_an_overlay_without_any_support_is_the_dimmed_view() -> None:
    pixels = np.full((8, 8, 3), 200, np.float32)
    png = np.asarray(Image.open(io.BytesIO(overlay_png(pixels, np.full((2, 2), -0.1)))))
    assert (png == png[0, 0]).all()  # no patch is singled out
