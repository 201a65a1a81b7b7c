"""The HTTP client against the real backend (started on 127.0.0.1 in its own environment,
serving the committed production model): the contract both projects must agree on."""

import io

import pytest
from flipkart_contract import ModelCard
from flipkart_contract.testing import image_bytes
from flipkart_ui.api_client import ApiClient, ApiError, ImageInput
from PIL import Image
from real_backend import ADMIN_KEY, RealBackend, missing

if why := missing():
    pytest.skip(why, allow_module_level=True)


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    server = RealBackend(tmp_path_factory.mktemp("real-backend")).start()
    yield server
    server.stop()


@pytest.fixture()
def client(backend):
    api = ApiClient(backend.url, timeout_s=30, api_key=ADMIN_KEY)
    yield api
    api.close()


def png(size=(120, 80), colour=(30, 120, 200)) -> bytes:
    return image_bytes(size, color=colour)


def test_predict_answers_with_the_production_model(client, backend):
    answer = client.predict(ImageInput(data=png(), filename="blue.png"), top_k=3)
    classes = backend.production_classes()
    assert answer["label"] in classes
    production = backend.production_card()
    assert answer["model"] == {"run_id": production.run_id, "architecture": production.architecture}
    probabilities = {p["label"]: p["probability"] for p in answer["probabilities"]}
    assert set(probabilities) <= set(classes) and len(probabilities) >= 3
    assert sum(probabilities.values()) <= 1.0 + 1e-6
    assert answer["id"]  # stored: feedback can refer to it


def test_every_listed_model_has_a_card_this_app_reads(client):
    models = client.models()
    assert models["models"] and [m["run_id"] for m in models["models"] if m["is_production"]] == [
        models["production"]
    ]
    for item in models["models"]:
        card = ModelCard.model_validate(item["card"])
        assert (item["run_id"], item["architecture"]) == (card.run_id, card.architecture)
        assert (item["framework"], item["training_mode"]) == (card.framework, card.training_mode)


def test_preprocess_returns_what_the_model_sees(client, backend):
    data = client.preprocess(ImageInput(data=png((300, 100)), filename="wide.png"))
    image = Image.open(io.BytesIO(data))
    size = backend.production_card().resize_policy.size
    assert image.size == (size, size)


def test_feedback_on_a_stored_prediction(client):
    answer = client.predict(ImageInput(data=png(colour=(200, 10, 10)), filename="red.png"))
    assert answer["feedback_token"]
    assert client.feedback(answer["id"], answer["label"], answer["feedback_token"]) is not None
    stats = client.stats()
    assert stats["feedback"]["count"] >= 1 and stats["predictions"] >= 1


def test_feedback_without_the_prediction_token_is_refused(client):
    answer = client.predict(ImageInput(data=png(colour=(10, 10, 200)), filename="navy.png"))
    other = client.predict(ImageInput(data=png(colour=(90, 10, 200)), filename="violet.png"))
    for token, status in ((None, 401), (other["feedback_token"], 403)):
        with pytest.raises(ApiError) as info:
            client.feedback(answer["id"], answer["label"], token)
        assert (info.value.kind, info.value.status) == ("rejected", status)


def test_statistics_are_private_without_the_key(backend):
    anonymous = ApiClient(backend.url, timeout_s=30)
    with pytest.raises(ApiError) as info:
        anonymous.stats()
    anonymous.close()
    assert (info.value.kind, info.value.status, info.value.code) == (
        "rejected",
        401,
        "missing_api_key",
    )


def test_feedback_with_an_unknown_label_is_rejected(client):
    answer = client.predict(ImageInput(data=png(colour=(10, 200, 10)), filename="green.png"))
    with pytest.raises(ApiError) as info:
        client.feedback(answer["id"], "Not a category", answer["feedback_token"])
    assert info.value.kind == "rejected" and info.value.status in (400, 422)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"this is text, not an image", "notes.jpg"),
        (png()[:40], "truncated.png"),
        (b"", "empty.png"),
    ],
)
def test_bad_images_are_rejected_with_the_backends_message(client, data, name):
    with pytest.raises(ApiError) as info:
        client.predict(ImageInput(data=data, filename=name))
    assert info.value.kind == "rejected"
    assert 400 <= info.value.status < 500 and str(info.value)


def test_health_and_ready(client):
    assert client.health()
    assert client.ready()["status"] == "ready"
