"""The HTTP contract, driven through the real app (TestClient)."""

import base64
import io

import numpy as np
import onnxruntime as ort
import pytest
from conftest import OTHER, PROD, make_settings
from fastapi.testclient import TestClient
from flipkart_api.app import create_app
from flipkart_contract import ResizePolicy, model_view, read_json_object, write_json_atomic
from flipkart_contract.testing import FLIPKART_CLASSES as CLASSES
from flipkart_contract.testing import gradient_image, image_bytes
from PIL import Image


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def png_of(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body


def test_predict_multipart_matches_a_direct_onnx_run(client, artifacts) -> None:
    data = png_of(gradient_image((90, 60)))
    response = client.post("/v1/predict", files={"file": ("x.png", data, "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    policy = ResizePolicy(method="pad", size=32, interpolation="bicubic")
    pixels = model_view(data, policy).astype(np.float32)[None]  # the labs' path
    session = ort.InferenceSession(str(artifacts / "models" / PROD / "model.onnx"))
    logits = session.run(["logits"], {"pixels": pixels})[0][0]
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    probabilities = {p["label"]: p["probability"] for p in body["probabilities"]}
    order = [CLASSES[i] for i in np.argsort(-expected)]
    assert [p["label"] for p in body["probabilities"]] == order
    for i, label in enumerate(CLASSES):
        assert probabilities[label] == pytest.approx(expected[i], abs=1e-5)
    assert body["label"] == CLASSES[int(np.argmax(expected))]
    assert body["confidence"] == pytest.approx(float(expected.max()), abs=1e-5)
    assert body["model"] == {"run_id": PROD, "architecture": "tiny_net"}
    assert isinstance(body["id"], str) and body["cached"] is False  # stored: issue 7
    assert set(body["latency_ms"]) == {"decode", "preprocess", "inference", "total"}
    assert body["latency_ms"]["total"] >= body["latency_ms"]["inference"] > 0


def test_predict_base64_json_and_raw_body_agree_with_multipart(client) -> None:
    data = image_bytes(fmt="JPEG")
    by_file = client.post("/v1/predict", files={"file": ("x.jpg", data, "image/jpeg")}).json()
    by_json = client.post("/v1/predict", json={"image": b64(data)}).json()
    by_data_url = client.post(
        "/v1/predict", json={"image": "data:image/jpeg;base64," + b64(data)}
    ).json()
    raw = client.post("/v1/predict", content=data, headers={"content-type": "image/jpeg"}).json()
    for body in (by_json, by_data_url, raw):
        assert body["probabilities"] == by_file["probabilities"]


def test_top_k_and_uncertain_flag(artifacts) -> None:
    settings = make_settings(artifacts, uncertain_threshold=1.01)
    with TestClient(create_app(settings)) as client:
        body = client.post("/v1/predict?top_k=3", json={"image": b64(image_bytes())}).json()
    assert len(body["probabilities"]) == 3
    values = [p["probability"] for p in body["probabilities"]]
    assert values == sorted(values, reverse=True)
    assert body["uncertain"] is True


def test_default_threshold_is_not_uncertain_for_confident_answers(artifacts) -> None:
    with TestClient(create_app(make_settings(artifacts, uncertain_threshold=0.0))) as client:
        body = client.post("/v1/predict", json={"image": b64(image_bytes())}).json()
    assert len(body["probabilities"]) == len(CLASSES)
    assert body["uncertain"] is False


def calibrate_card(artifacts, uncertain_below: float) -> None:
    path = artifacts / "models" / PROD / "card.json"
    card = read_json_object(path)
    card["calibration"] = {
        "temperature": 1.5, "folded": True, "fitted_on": "val", "num_images": 21,
        "ece_before": 0.1, "ece_after": 0.05, "nll_before": 0.9, "nll_after": 0.8,
        "target_precision": 0.95, "uncertain_below": uncertain_below,
    }  # fmt: skip
    write_json_atomic(path, card)


@pytest.mark.parametrize(("below", "expected"), [(1.0, True), (0.0, False)])
def test_the_calibrated_threshold_of_the_card_decides_uncertain(artifacts, below, expected):
    calibrate_card(artifacts, below)
    with TestClient(create_app(make_settings(artifacts))) as client:
        body = client.post("/v1/predict", json={"image": b64(image_bytes())}).json()
        other = client.post(f"/v1/predict?model={OTHER}", json={"image": b64(image_bytes())})
    assert body["uncertain"] is expected
    # An uncalibrated model keeps the 0.5 default (this tiny one is far below it).
    assert other.json()["uncertain"] is (other.json()["confidence"] < 0.5)


def test_the_setting_overrides_the_card(artifacts):
    calibrate_card(artifacts, 0.0)
    with TestClient(create_app(make_settings(artifacts, uncertain_threshold=1.01))) as client:
        body = client.post("/v1/predict", json={"image": b64(image_bytes())}).json()
    assert body["uncertain"] is True


@pytest.mark.parametrize("top_k", [0, 8, -1])
def test_top_k_out_of_range_is_422(client, top_k) -> None:
    response = client.post(f"/v1/predict?top_k={top_k}", json={"image": b64(image_bytes())})
    assert response.status_code == 422
    assert response.json()["error"]["code"] in {"invalid_top_k", "invalid_request"}


def test_top_k_not_a_number_is_422(client) -> None:
    response = client.post("/v1/predict?top_k=many", json={"image": b64(image_bytes())})
    assert_error(response, 422, "invalid_request")


def test_model_by_run_id_and_by_architecture(client) -> None:
    data = {"image": b64(image_bytes())}
    by_id = client.post(f"/v1/predict?model={OTHER}", json=data).json()
    by_architecture = client.post("/v1/predict?model=other_net", json=data).json()
    assert by_id["model"] == by_architecture["model"]
    assert by_id["model"] == {"run_id": OTHER, "architecture": "other_net"}


def test_unknown_model_is_404_listing_valid_ones(client) -> None:
    response = client.post("/v1/predict?model=resnet9000", json={"image": b64(image_bytes())})
    body = assert_error(response, 404, "unknown_model")
    for name in (PROD, OTHER, "tiny_net", "other_net"):
        assert name in body["error"]["message"]


def test_empty_body_is_400(client) -> None:
    assert_error(client.post("/v1/predict"), 400, "empty_body")
    assert_error(
        client.post("/v1/predict", content=b"", headers={"content-type": "image/png"}),
        400,
        "empty_body",
    )


def test_empty_file_is_400(client) -> None:
    response = client.post("/v1/predict", files={"file": ("x.png", b"", "image/png")})
    assert_error(response, 400, "empty_image")


def test_not_an_image_is_422(client) -> None:
    response = client.post("/v1/predict", files={"file": ("x.bin", b"\x00\x01garbage", "x/y")})
    assert_error(response, 422, "not_an_image")


def test_text_with_an_image_content_type_is_422(client) -> None:
    text = b"hello, I am definitely a PNG"
    assert_error(
        client.post("/v1/predict", files={"file": ("x.png", text, "image/png")}),
        422,
        "not_an_image",
    )
    assert_error(
        client.post("/v1/predict", content=text, headers={"content-type": "image/png"}),
        422,
        "not_an_image",
    )


def test_truncated_image_is_422(client) -> None:
    data = png_of(gradient_image((300, 200)))
    response = client.post("/v1/predict", json={"image": b64(data[: len(data) // 2])})
    assert_error(response, 422, "corrupt_image")


def test_file_over_the_size_limit_is_413(artifacts) -> None:
    settings = make_settings(artifacts, max_upload_bytes=2000)
    big = png_of(gradient_image((200, 200)))
    assert len(big) > 2000
    with TestClient(create_app(settings)) as client:
        by_file = client.post("/v1/predict", files={"file": ("x.png", big, "image/png")})
        by_json = client.post("/v1/predict", json={"image": b64(big)})
        huge = client.post("/v1/predict", content=b"\xff" * 200_000)
    assert_error(by_file, 413, "payload_too_large")
    assert_error(by_json, 413, "payload_too_large")
    assert_error(huge, 413, "payload_too_large")


def test_pixel_count_over_the_limit_is_413(artifacts) -> None:
    # A 4000x4000 white PNG compresses to a few kB: a decompression bomb in miniature.
    bomb = image_bytes((4000, 4000), color=(255, 255, 255))
    assert len(bomb) < 100_000
    with TestClient(create_app(make_settings(artifacts, max_pixels=1_000_000))) as client:
        response = client.post("/v1/predict", files={"file": ("bomb.png", bomb, "image/png")})
    assert_error(response, 413, "too_many_pixels")


def zero_width_png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 0, 10, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_zero_sized_image_is_422(client) -> None:
    response = client.post("/v1/predict", json={"image": b64(zero_width_png())})
    assert response.status_code == 422
    assert response.json()["error"]["code"] in {"empty_image", "not_an_image"}


def test_malformed_base64_is_400(client) -> None:
    response = client.post("/v1/predict", json={"image": "not base64 at all!!"})
    assert_error(response, 400, "invalid_base64")


def test_base64_field_of_the_wrong_type_is_422(client) -> None:
    assert_error(client.post("/v1/predict", json={"image": 12}), 422, "invalid_image_field")


def test_invalid_json_is_400(client) -> None:
    response = client.post(
        "/v1/predict", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "invalid_json")


def test_json_without_image_or_url_is_422(client) -> None:
    assert_error(client.post("/v1/predict", json={"picture": "x"}), 422, "missing_image")
    assert_error(client.post("/v1/predict", json=["x"]), 422, "invalid_request")


def test_multipart_without_file_field_is_422(client) -> None:
    response = client.post("/v1/predict", data={"other": "x"}, files={"f": ("a", b"x")})
    assert_error(response, 422, "missing_image")


def test_unsupported_content_type_is_415(client) -> None:
    response = client.post("/v1/predict", content=b"abc", headers={"content-type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type")


def test_malformed_multipart_is_400(client) -> None:
    response = client.post(
        "/v1/predict",
        content=b"--xyz\r\nbroken",
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert response.status_code in {400, 422}
    assert response.json()["error"]["code"] in {"invalid_multipart", "missing_image"}


def test_batch_answers_each_slot_in_order(client) -> None:
    good = image_bytes()
    files = [
        ("files", ("a.png", good, "image/png")),
        ("files", ("b.png", b"not an image", "image/png")),
        ("files", ("c.jpg", image_bytes(fmt="JPEG", color=(0, 0, 255)), "image/jpeg")),
    ]
    results = client.post("/v1/predict/batch?top_k=2", files=files).json()["results"]
    assert len(results) == 3
    assert set(results[1]) == {"error"}
    assert results[1]["error"]["code"] == "not_an_image"
    assert len(results[0]["probabilities"]) == 2 and len(results[2]["probabilities"]) == 2
    single = client.post("/v1/predict?top_k=2", json={"image": b64(good)}).json()
    assert results[0]["probabilities"] == single["probabilities"]


def test_batch_json_with_bad_base64_slot(client) -> None:
    response = client.post("/v1/predict/batch", json={"images": [b64(image_bytes()), "%%%"]})
    results = response.json()["results"]
    assert "label" in results[0]
    assert results[1]["error"]["code"] == "invalid_base64"


def test_batch_over_the_image_limit_is_413(artifacts) -> None:
    with TestClient(create_app(make_settings(artifacts, max_batch_images=2))) as client:
        response = client.post("/v1/predict/batch", json={"images": [b64(image_bytes())] * 3})
    assert_error(response, 413, "too_many_images")


def test_batch_body_over_the_batch_byte_limit_is_413(artifacts) -> None:
    settings = make_settings(artifacts, max_upload_bytes=6000, max_batch_bytes=100_000)
    images = ["A" * 6000] * 20  # each image is within its limit, the request (120 kB) is not
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/predict/batch", json={"images": images})
        fits = client.post("/v1/predict/batch", json={"images": images[:10]})
    assert_error(response, 413, "payload_too_large")
    assert fits.status_code == 200


def test_batch_empty_list_is_422(client) -> None:
    assert_error(client.post("/v1/predict/batch", json={"images": []}), 422, "missing_image")


def test_preprocess_returns_the_models_view_as_png(client) -> None:
    data = png_of(gradient_image((90, 30)))
    response = client.post("/v1/preprocess", files={"file": ("x.png", data, "image/png")})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    view = Image.open(io.BytesIO(response.content))
    assert view.size == (32, 32)
    expected = model_view(data, ResizePolicy(method="pad", size=32))
    assert np.array_equal(np.asarray(view), expected)
    crop = client.post(f"/v1/preprocess?model={OTHER}", json={"image": b64(data)})
    assert Image.open(io.BytesIO(crop.content)).size == (32, 32)


def test_models_list_and_one_model(client) -> None:
    body = client.get("/v1/models").json()
    assert body["production"] == PROD
    items = {m["run_id"]: m for m in body["models"]}
    assert set(items) == {PROD, OTHER}
    assert items[PROD]["is_production"] is True and items[OTHER]["is_production"] is False
    assert set(items[OTHER]) == {
        "run_id", "architecture", "framework", "training_mode", "precision", "is_production",
        "card",
    }  # fmt: skip
    assert items[OTHER]["precision"] == "fp32"
    assert items[OTHER]["architecture"] == "other_net"
    assert items[OTHER]["framework"] == "tensorflow" and items[OTHER]["training_mode"] == "freeze"
    card = items[OTHER]["card"]
    assert card["schema_version"] == 2 and card["classes"] == CLASSES
    assert card["resize_policy"]["method"] == "crop" and card["run_id"] == OTHER
    one = client.get("/v1/models/other_net").json()
    assert one == items[OTHER]
    assert client.get(f"/v1/models/{PROD}").json()["is_production"] is True


def test_unknown_model_card_is_404(client) -> None:
    body = assert_error(client.get("/v1/models/nope"), 404, "unknown_model")
    assert "tiny_net" in body["error"]["message"]


def test_health_ready_and_unknown_route(client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready", "model": PROD}
    assert_error(client.get("/v2/nothing"), 404, "not_found")
    assert_error(client.get("/v1/predict"), 405, "method_not_allowed")


def test_metrics_count_requests_batches_and_labels(client) -> None:
    body = client.post("/v1/predict", json={"image": b64(image_bytes())}).json()
    client.post("/v1/predict", json={"image": "%%%"})
    text = client.get("/metrics").text
    assert 'http_requests_total{method="POST",route="/v1/predict",status="200"} 1.0' in text
    assert 'http_requests_total{method="POST",route="/v1/predict",status="400"} 1.0' in text
    assert f'inference_batch_size_count{{model="{PROD}"}} 1.0' in text
    assert f'inference_duration_seconds_count{{model="{PROD}"}} 1.0' in text
    assert f'predictions_total{{label="{body["label"]}",model="{PROD}"}} 1.0' in text
    for status in (200, 400):
        labels = f'le="+Inf",method="POST",route="/v1/predict",status="{status}"'
        assert f"http_request_duration_seconds_bucket{{{labels}}} 1.0" in text


def test_request_id_is_echoed_or_generated(client) -> None:
    given = client.get("/health", headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    generated = client.get("/health").headers["x-request-id"]
    assert len(generated) == 32


def test_cors_from_settings(artifacts) -> None:
    settings = make_settings(artifacts, cors_origins=["http://ui.example"])
    with TestClient(create_app(settings)) as client:
        allowed = client.get("/health", headers={"origin": "http://ui.example"})
        other = client.get("/health", headers={"origin": "http://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "http://ui.example"
    assert "access-control-allow-origin" not in other.headers


def test_compatibility_routes_take_the_original_payload(client) -> None:
    data = image_bytes()
    legacy = client.post("/predict", json={"image": b64(data)}).json()
    current = client.post("/v1/predict", json={"image": b64(data)}).json()
    assert legacy["probabilities"] == current["probabilities"]
    normalized = client.post("/normalize", json={"image": b64(data)}).json()
    view = Image.open(io.BytesIO(base64.b64decode(normalized["image"])))
    assert view.size == (32, 32)
    assert_error(client.post("/normalize", json={"image": "%%"}), 400, "invalid_base64")


def test_openapi_documents_the_routes(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/predict", "/v1/predict/batch", "/v1/preprocess", "/v1/models", "/ready"):
        assert path in paths
    body = paths["/v1/predict"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(body)
