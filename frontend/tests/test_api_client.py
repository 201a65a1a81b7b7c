"""The HTTP client against a real (fake) backend on loopback: answers and every failure kind."""

import io

import httpx
import pytest
from fake_backend import ADMIN_KEY, RUN_IDS, feedback_token, free_port
from flipkart_contract.testing import FLIPKART_CLASSES, image_bytes
from flipkart_ui.api_client import ApiClient, ApiError, ImageInput
from PIL import Image


def png_bytes(colour=(200, 10, 10)) -> bytes:
    return image_bytes((12, 9), color=colour)


@pytest.fixture()
def client(backend):
    api = ApiClient(backend.url, timeout_s=2)
    yield api
    api.close()


def test_predict_sends_the_file_field_and_returns_the_answer(client, backend):
    answer = client.predict(ImageInput(data=png_bytes(), filename="x.png"), top_k=3)
    call = backend.behaviour.calls[-1]
    assert call["source"] == "file" and call["bytes"] == len(png_bytes())
    assert call["query"] == {"top_k": "3"}
    assert answer == call["answer"]
    assert answer["label"] in FLIPKART_CLASSES


def test_predict_from_a_path(client, tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(png_bytes((0, 0, 255)))
    assert client.predict(ImageInput.from_path(path))["label"] in FLIPKART_CLASSES


def test_rejected_image_carries_the_backend_message(client):
    with pytest.raises(ApiError) as info:
        client.predict(ImageInput(data=b"not an image"))
    assert info.value.kind == "rejected"
    assert info.value.status == 422
    assert info.value.code == "invalid_image"
    assert "not an image" in info.value.message


def test_url_is_sent_as_json(client):
    with pytest.raises(ApiError) as info:
        client.predict(ImageInput.from_url("https://example.com/a.jpg"))
    assert info.value.code == "url_fetch_failed"
    assert "https://example.com/a.jpg" in info.value.message


def test_title_and_description_go_with_the_file_with_the_url_or_alone(client, backend):
    answer = client.predict(
        ImageInput(data=png_bytes(), filename="x.png"), title="Analog watch", description="  "
    )
    call = backend.behaviour.calls[-1]
    assert (call["source"], call["title"]) == ("file", "Analog watch")
    assert "description" not in call  # blank text is not sent
    assert answer["text_note"].startswith("Text not used")
    with pytest.raises(ApiError):
        client.predict(ImageInput.from_url("https://example.com/a.jpg"), description="A towel")
    call = backend.behaviour.calls[-1]
    assert (call["source"], call["description"]) == ("url", "A towel") and "title" not in call
    with pytest.raises(ApiError) as info:  # the fake has no text model, as without a listing
        client.predict(None, title="Analog watch")
    assert (info.value.status, info.value.code) == (503, "text_model_unavailable")
    assert backend.behaviour.calls[-1] == {
        "path": "/v1/predict",
        "source": "text",
        "title": "Analog watch",
    }


def test_nothing_to_classify_is_refused_before_any_call(client, backend):
    with pytest.raises(ValueError, match="nothing to classify"):
        client.predict(None, title=" ", description="")
    assert backend.behaviour.calls == []


@pytest.mark.parametrize("url", ["", "ftp://x", "example.com/a.jpg"])
def test_bad_url_is_refused_before_any_call(url):
    with pytest.raises(ValueError, match="http"):
        ImageInput.from_url(url)


def test_preprocess_returns_png(client):
    data = client.preprocess(ImageInput(data=png_bytes()))
    assert Image.open(io.BytesIO(data)).size == (16, 16)


def test_predict_names_the_model_by_run_id_and_architecture(client):
    answer = client.predict(ImageInput(data=png_bytes(), filename="x.png"))
    assert answer["model"] == {"run_id": RUN_IDS[0], "architecture": "efficientnet_lite0"}


def test_models(client):
    models = client.models()
    assert models["production"] == models["models"][0]["run_id"]
    first = models["models"][0]
    assert set(first) == {
        "run_id",
        "architecture",
        "framework",
        "training_mode",
        "is_production",
        "card",
    }
    assert first["card"]["resize_policy"]["method"] in ("crop", "pad")


def test_a_model_list_item_without_run_id_is_a_bad_response(client, monkeypatch):
    answer = {"production": None, "models": [{"architecture": "x"}]}
    monkeypatch.setattr(client, "_json", lambda *args, **kwargs: answer)
    with pytest.raises(ApiError) as info:
        client.models()
    assert info.value.kind == "bad_response" and "run_id" in info.value.message


def test_ready_503_is_data_not_an_error(client):
    assert client.ready() == {"status": "not_ready", "reason": "no model loaded"}


def test_stats_and_feedback_not_deployed(client):
    with pytest.raises(ApiError) as info:
        client.stats()
    assert info.value.kind == "not_deployed"
    with pytest.raises(ApiError) as info:
        client.feedback(1, "Watches")
    assert info.value.kind == "not_deployed"


def test_feedback_and_stats_when_deployed(client, backend):
    backend.behaviour.stats = backend.behaviour.feedback = True
    token = feedback_token("a7")
    assert client.feedback("a7", "Watches", token) == {"prediction_id": "a7", "label": "Watches"}
    sent = backend.behaviour.calls[-1]
    assert sent == {
        "path": "/v1/feedback",
        "prediction_id": "a7",
        "label": "Watches",
        "token": token,
    }
    assert client.stats()["predictions"] == 10
    assert client.stats(window_hours=1)["predictions"] == 5
    with pytest.raises(ApiError) as info:
        client.feedback("a7", "Shoes", token)
    assert info.value.kind == "rejected" and info.value.code == "unknown_label"
    # a 404 with the backend's own code is an answer about the id, not a missing route
    with pytest.raises(ApiError) as info:
        client.feedback("no such id", "Watches", token)
    assert info.value.kind == "rejected" and info.value.code == "unknown_prediction"
    refusals = ((None, 401, "missing_feedback_token"), ("0" * 64, 403, "invalid_feedback_token"))
    for wrong, status, code in refusals:
        with pytest.raises(ApiError) as info:
            client.feedback("a7", "Watches", wrong)
        assert (info.value.kind, info.value.status, info.value.code) == ("rejected", status, code)
    backend.behaviour.stats = "private"
    with pytest.raises(ApiError) as info:
        client.stats()
    assert info.value.kind == "rejected" and "API_KEYS" in info.value.message


def test_server_error(client, backend):
    backend.behaviour.mode = "error"
    with pytest.raises(ApiError) as info:
        client.models()
    error = info.value
    assert (error.kind, error.status, error.code) == ("server", 500, "internal_error")
    assert client.health() == {"status": "ok"}


def test_slow_backend_times_out(backend):
    backend.behaviour.mode, backend.behaviour.delay_s = "slow", 1.0
    api = ApiClient(backend.url, timeout_s=0.2)
    with pytest.raises(ApiError) as info:
        api.health()
    assert info.value.kind == "timeout"


def test_backend_down():
    api = ApiClient(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    with pytest.raises(ApiError) as info:
        api.models()
    assert info.value.kind == "unreachable"


def test_non_json_answer_is_a_bad_response(backend):
    api = ApiClient(backend.url, timeout_s=2)
    with pytest.raises(ApiError) as info:
        api._json("GET", "/docs")  # FastAPI's HTML page: 200 but not JSON
    assert info.value.kind == "bad_response"


def test_private_stats_are_read_with_the_admin_key_only_when_configured(backend):
    backend.behaviour.stats = "admin"
    anonymous = ApiClient(backend.url, timeout_s=5)
    with pytest.raises(ApiError) as info:
        anonymous.stats()
    assert (info.value.kind, info.value.status) == ("rejected", 401)
    anonymous.close()
    wrong = ApiClient(backend.url, timeout_s=5, api_key="not the key")
    with pytest.raises(ApiError) as info:
        wrong.stats()
    assert info.value.code == "invalid_api_key"
    wrong.close()
    admin = ApiClient(backend.url, timeout_s=5, api_key=ADMIN_KEY)
    assert admin.stats()["predictions"] == 10
    admin.close()


def test_explain_sends_the_image_label_and_grid_and_decodes_the_overlay(client, backend):
    answer = client.explain(ImageInput(data=png_bytes(), filename="x.png"), "Watches", grid=3)
    call = backend.behaviour.calls[-1]
    assert (call["path"], call["source"], call["query"]) == (
        "/v1/explain",
        "file",
        {"label": "Watches", "grid": "3"},
    )
    assert answer["label"] == "Watches" and answer["images_run"] == 10
    assert Image.open(io.BytesIO(answer["overlay_png"])).getpixel((0, 0)) == (254, 232, 56)
    default = client.explain(ImageInput(data=png_bytes(), filename="x.png"))
    assert backend.behaviour.calls[-1]["query"] == {}
    assert default["label"] == default["predicted"]


def test_explain_by_url_is_sent_as_json(client, backend):
    with pytest.raises(ApiError) as info:
        client.explain(ImageInput.from_url("https://example.com/a.jpg"), "Watches")
    assert info.value.code == "url_fetch_failed"
    assert backend.behaviour.calls[-1]["source"] == "url"


@pytest.mark.parametrize(
    ("behaviour", "label", "status", "code"),
    [
        ("ok", "Not a class", 422, "unknown_label"),
        ("server_busy", "Watches", 503, "server_busy"),
        ("rate_limited", "Watches", 429, "rate_limited"),
    ],
)
def test_explain_errors_carry_status_and_code(client, backend, behaviour, label, status, code):
    backend.behaviour.explain = behaviour
    with pytest.raises(ApiError) as info:
        client.explain(ImageInput(data=png_bytes()), label)
    assert (info.value.status, info.value.code) == (status, code)


def test_explain_without_a_readable_overlay_is_a_bad_response():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"label": "Watches", "overlay_png": "%%% not base64"})

    api = ApiClient("http://backend.test")
    api._client = httpx.Client(base_url=api.base_url, transport=httpx.MockTransport(handler))
    with pytest.raises(ApiError) as info:
        api.explain(ImageInput(data=png_bytes()))
    assert info.value.kind == "bad_response"
