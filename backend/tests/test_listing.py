"""A listing (photo + title/description) through the real app: the production listing loaded or
refused with its reason, the text read and cleaned, fused answers equal to the contract's fusion,
text alone, text that cannot be used (a note, never a 500), the text in the store and its cache
key, batches with text."""

import base64
import csv
import hashlib
import io
import zipfile

import numpy as np
import pytest
from conftest import OTHER, PROD, make_settings
from fastapi.testclient import TestClient
from flipkart_api.app import create_app
from flipkart_contract.testing import FLIPKART_CLASSES as CLASSES
from flipkart_contract.testing import LISTING_ID, TEXT_RUN_ID
from flipkart_contract.text import (
    FusionWeights,
    TextModel,
    clean_text,
    fuse,
    listing_text,
    text_probabilities,
)
from helpers import write_listing, write_registry
from test_store_helpers import database_fixture, distinct_png, postgres_cluster_fixture  # noqa: F401

WEIGHTS = FusionWeights(image=0.5, text=2.0)  # not 1/1: the card's weights are what is used
TITLE = "  Analog   Watches for Men "  # cleaned: "Analog Watches for Men"
DESCRIPTION = "A soft cotton bath towel for the home, by Home Furnishing Co."


@pytest.fixture
def text_model(artifacts) -> TextModel:
    model = write_listing(artifacts, PROD, image_weight=WEIGHTS.image, text_weight=WEIGHTS.text)
    write_registry(artifacts, PROD, [PROD, OTHER], listing=LISTING_ID)
    return TextModel.from_dict(model)


@pytest.fixture
def listing_client(text_model, settings):
    with TestClient(create_app(settings)) as client:
        yield client


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def vector(ranked: list[dict]) -> np.ndarray:
    """Probabilities of a ranked answer in class order."""
    found = {p["label"]: p["probability"] for p in ranked}
    return np.array([found[c] for c in CLASSES])


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text
    return response.json()["error"]


def test_models_and_ready_show_the_listing(listing_client) -> None:
    body = listing_client.get("/v1/models").json()
    listing = body["listing"]
    assert (listing["listing_id"], listing["loaded"], listing["reason"]) == (LISTING_ID, True, None)
    assert (listing["image_run_id"], listing["text_run_id"]) == (PROD, TEXT_RUN_ID)
    assert listing["card"]["fusion"]["weights"]["title"]["text"] == WEIGHTS.text
    assert listing["text_card"]["run_id"] == TEXT_RUN_ID
    assert body["problems"] == {} and body["production"] == PROD  # existing fields unchanged
    ready = listing_client.get("/ready").json()
    assert ready == {"status": "ready", "model": PROD, "listing": LISTING_ID}


def test_fused_answer_is_the_contracts_fusion_of_the_image_and_text_parts(
    listing_client, text_model
) -> None:
    image = distinct_png(1)
    alone = listing_client.post("/v1/predict", files={"file": ("x.png", image, "image/png")})
    fused = listing_client.post(
        "/v1/predict", files={"file": ("x.png", image, "image/png")}, data={"title": TITLE}
    )
    assert alone.status_code == fused.status_code == 200, fused.text
    alone, fused = alone.json(), fused.json()
    assert fused["inputs_used"] == ["image", "title"] and alone["inputs_used"] == ["image"]
    assert fused["listing"] == {
        "listing_id": LISTING_ID,
        "image_run_id": PROD,
        "text_run_id": TEXT_RUN_ID,
    }
    assert fused["model"]["run_id"] == PROD and fused["text_note"] is None
    assert fused["title"] == "Analog Watches for Men" and fused["description"] is None

    image_probs = vector(alone["probabilities"])
    logits = text_model.logits([listing_text(clean_text(TITLE, 300), "")])
    expected_text = text_probabilities(logits, WEIGHTS)[0]
    expected_fused = fuse(image_probs[None], logits, WEIGHTS)[0]
    parts = fused["by_input"]
    np.testing.assert_allclose(vector(parts["image"]), image_probs, rtol=1e-6)
    np.testing.assert_allclose(vector(parts["text"]), expected_text, rtol=1e-9)
    np.testing.assert_allclose(vector(parts["fused"]), expected_fused, rtol=1e-6)
    # the answer is the fused one, and the text changed it: the title names a watch
    np.testing.assert_allclose(vector(fused["probabilities"]), expected_fused, rtol=1e-6)
    assert fused["label"] == "Watches" == CLASSES[int(np.argmax(expected_fused))]
    assert fused["confidence"] == pytest.approx(expected_fused.max())
    assert alone["label"] != "Watches"
    assert alone["by_input"] == {
        "image": alone["probabilities"],
        "text": None,
        "fused": None,
    }


@pytest.mark.parametrize(
    ("fields", "used", "document"),
    [
        ({"title": TITLE}, ["image", "title"], "Analog Watches for Men"),
        ({"description": DESCRIPTION}, ["image", "description"], DESCRIPTION),
        (
            {"title": TITLE, "description": DESCRIPTION},
            ["image", "title", "description"],
            "Analog Watches for Men\n" + DESCRIPTION,
        ),
    ],
)
def test_title_description_or_both_in_json(listing_client, text_model, fields, used, document):
    body = {"image": b64(distinct_png(2)), **fields}
    answer = listing_client.post("/v1/predict?top_k=3", json=body).json()
    assert answer["inputs_used"] == used
    expected = text_probabilities(text_model.logits([document]), WEIGHTS)[0]
    text = answer["by_input"]["text"]
    assert len(text) == 3 and len(answer["probabilities"]) == 3  # top_k cuts every part
    assert text[0]["probability"] == pytest.approx(np.sort(expected)[-1])
    assert answer["probabilities"] == answer["by_input"]["fused"]


def test_text_alone_is_answered_by_the_text_model(listing_client, text_model) -> None:
    for response in (
        listing_client.post("/v1/predict", json={"title": TITLE}),
        # multipart without a file (a text field only)
        listing_client.post("/v1/predict", files={"title": (None, TITLE)}),
    ):
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["model"] == {"run_id": TEXT_RUN_ID, "architecture": "text-tiny"}
        assert answer["inputs_used"] == ["title"]
        assert answer["by_input"]["image"] is None and answer["by_input"]["fused"] is None
        assert answer["probabilities"] == answer["by_input"]["text"]
        assert answer["label"] == "Watches" and answer["listing"]["listing_id"] == LISTING_ID
        expected = text_probabilities(text_model.logits(["Analog Watches for Men"]), WEIGHTS)[0]
        np.testing.assert_allclose(vector(answer["probabilities"]), expected, rtol=1e-9)
    described = listing_client.post("/v1/predict", json={"description": DESCRIPTION}).json()
    assert described["inputs_used"] == ["description"]
    assert described["label"] == "Home Furnishing"


def test_empty_text_is_absent(listing_client) -> None:
    image = b64(distinct_png(3))
    plain = listing_client.post("/v1/predict", json={"image": image}).json()
    for blank in ({"title": ""}, {"title": "  \n\t", "description": "\u200b\x00"}):
        answer = listing_client.post("/v1/predict", json={"image": image, **blank}).json()
        assert answer["inputs_used"] == ["image"] and answer["text_note"] is None
        assert answer["title"] is None and answer["by_input"]["text"] is None
        assert answer["id"] == plain["id"] and answer["cached"]  # the photo-only row
    no_text = {"title": None, "description": ""}
    assert_error(listing_client.post("/v1/predict", json=no_text), 422, "missing_image")
    assert_error(listing_client.post("/v1/predict", json={"title": " "}), 422, "empty_text")


@pytest.mark.parametrize(("field", "limit"), [("title", 1_000), ("description", 10_000)])
def test_text_over_the_request_limit_is_413(listing_client, field, limit) -> None:
    image = b64(distinct_png(4))
    error = assert_error(
        listing_client.post("/v1/predict", json={"image": image, field: "a" * (limit + 1)}),
        413,
        "text_too_long",
    )
    assert str(limit) in error["message"]
    files = {"file": ("x.png", distinct_png(4), "image/png")}
    too_long = listing_client.post("/v1/predict", files=files, data={field: "é" * (limit + 1)})
    assert_error(too_long, 413, "text_too_long")
    # at the limit: accepted, and cut for the model at the contract's limit
    words = ("watch " * limit)[:limit]
    answer = listing_client.post("/v1/predict", json={"image": image, field: words}).json()
    assert 0 < len(answer[field]) <= (300 if field == "title" else 2000)


def multipart(*parts: tuple[str, bytes, str | None]) -> tuple[bytes, dict]:
    """A multipart body written by hand: (name, raw bytes, filename or None)."""
    boundary = "test-boundary-1234"
    body = b""
    for name, data, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename:
            body += b"Content-Type: image/png\r\n"
        body += b"\r\n" + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, {"content-type": f"multipart/form-data; boundary={boundary}"}


def test_text_that_is_not_utf8_is_400(listing_client) -> None:
    image = distinct_png(5)
    body, headers = multipart(("file", image, "x.png"), ("title", b"Montre \xe9l\xe9gante", None))
    response = listing_client.post("/v1/predict", content=body, headers=headers)
    assert_error(response, 400, "invalid_text_encoding")
    body, headers = multipart(("description", b"\xff\xfe\xfa", None))
    response = listing_client.post("/v1/predict", content=body, headers=headers)
    assert_error(response, 400, "invalid_text_encoding")
    # the same words in UTF-8 are read as they are (Starlette would read Latin-1 silently)
    body, headers = multipart(("file", image, "x.png"), ("title", "Montre élégante".encode(), None))
    answer = listing_client.post("/v1/predict", content=body, headers=headers).json()
    assert answer["title"] == "Montre élégante" and answer["inputs_used"] == ["image", "title"]
    # in a batch, only the slot whose text is not UTF-8 fails
    body, headers = multipart(
        ("files", image, "a.png"),
        ("files", distinct_png(6), "b.png"),
        ("titles", b"\xc3\x28", None),
        ("titles", b"Analog watches", None),
    )
    results = listing_client.post("/v1/predict/batch", content=body, headers=headers).json()
    bad, good = results["results"]
    assert bad["error"]["code"] == "invalid_text_encoding"
    assert good["inputs_used"] == ["image", "title"]


def test_text_sent_to_a_model_without_a_text_model_gets_a_note(listing_client) -> None:
    files = {"file": ("x.png", distinct_png(7), "image/png")}
    response = listing_client.post(f"/v1/predict?model={OTHER}", files=files, data={"title": TITLE})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model"]["run_id"] == OTHER and answer["inputs_used"] == ["image"]
    assert answer["by_input"]["fused"] is None and answer["by_input"]["text"] is None
    assert answer["listing"] is None and answer["title"] == "Analog Watches for Men"
    assert OTHER in answer["text_note"] and PROD in answer["text_note"]
    alone = listing_client.post(f"/v1/predict?model={OTHER}", json={"title": TITLE})
    assert PROD in assert_error(alone, 422, "model_without_text")["message"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"text_sha256": "0" * 64}, "sha256 mismatch"),
        ({"image_sha256": "0" * 64}, "the fusion was fitted on"),
    ],
)
def test_a_listing_whose_sha256_does_not_match_is_not_loaded(artifacts, change, reason) -> None:
    write_listing(artifacts, PROD, **change)
    write_registry(artifacts, PROD, [PROD, OTHER], listing=LISTING_ID)
    with TestClient(create_app(make_settings(artifacts))) as client:
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"  # images served
        assert reason in ready.json()["listing_problem"]
        models = client.get("/v1/models").json()
        assert models["listing"]["loaded"] is False and reason in models["listing"]["reason"]
        assert reason in models["problems"][LISTING_ID]
        files = {"file": ("x.png", distinct_png(8), "image/png")}
        answer = client.post("/v1/predict", files=files, data={"title": TITLE}).json()
        assert answer["inputs_used"] == ["image"] and reason in answer["text_note"]
        alone = client.post("/v1/predict", json={"title": TITLE})
        assert reason in assert_error(alone, 503, "text_model_unavailable")["message"]


def test_without_a_listing_text_is_noted_and_text_alone_is_503(client) -> None:
    files = {"file": ("x.png", distinct_png(9), "image/png")}
    answer = client.post("/v1/predict", files=files, data={"description": DESCRIPTION}).json()
    assert answer["inputs_used"] == ["image"] and "names no listing" in answer["text_note"]
    assert client.get("/v1/models").json()["listing"] is None
    assert "listing" not in client.get("/ready").json()
    assert_error(client.post("/v1/predict", json={"title": TITLE}), 503, "text_model_unavailable")


def test_the_cache_key_holds_the_text(listing_client) -> None:
    image = b64(distinct_png(10))

    def post(**text) -> dict:
        return listing_client.post("/v1/predict", json={"image": image, **text}).json()

    watch, towel = post(title="Analog watches"), post(title="Home furnishing: a bath towel")
    assert not watch["cached"] and not towel["cached"] and watch["id"] != towel["id"]
    assert watch["label"] == "Watches" and towel["label"] == "Home Furnishing"
    again = post(title="  Analog   watches ")  # the same once cleaned
    assert again["cached"] and again["id"] == watch["id"]
    for key in ("label", "probabilities", "by_input", "inputs_used", "listing", "title"):
        assert again[key] == watch[key], key
    photo = post()
    assert not photo["cached"] and photo["id"] not in (watch["id"], towel["id"])
    described = post(title="Analog watches", description="for men")
    assert not described["cached"] and described["id"] != watch["id"]


def test_the_store_keeps_the_text(text_model, artifacts, database) -> None:
    settings = make_settings(artifacts, **database)
    with TestClient(create_app(settings)) as client:
        files = {"file": ("x.png", distinct_png(11), "image/png")}
        data = {"title": TITLE, "description": DESCRIPTION}
        fused = client.post("/v1/predict", files=files, data=data).json()
        alone = client.post("/v1/predict", json={"description": DESCRIPTION}).json()
        assert fused["id"] and alone["id"]
        for answer in (fused, alone):
            token = {"X-Feedback-Token": answer["feedback_token"]}
            stored = client.get(f"/v1/predictions/{answer['id']}", headers=token).json()
            for key in ("label", "probabilities", "inputs_used", "by_input", "listing", "model"):
                assert stored[key] == answer[key], key
            assert stored["description"] == DESCRIPTION
        assert stored["title"] is None and stored["source"] == "text"
        body = {"prediction_id": alone["id"], "label": "Baby Care"}
        feedback = client.post("/v1/feedback", json=body, headers=token)
        assert feedback.status_code == 200, feedback.text
        cached = client.post("/v1/predict", json={"description": DESCRIPTION}).json()
        assert cached["cached"] and cached["id"] == alone["id"]
        assert cached["model"]["run_id"] == TEXT_RUN_ID


def test_the_export_has_the_text(text_model, artifacts, tmp_path) -> None:
    key = "admin-key-for-tests"
    settings = make_settings(
        artifacts,
        admin_key_sha256=hashlib.sha256(key.encode()).hexdigest(),
        keep_images=True,
        keep_images_min_confidence=0.0,
        keep_images_dir=tmp_path / "kept",
    )
    with TestClient(create_app(settings)) as client:
        files = {"file": ("x.png", distinct_png(12), "image/png")}
        client.post("/v1/predict", files=files, data={"title": TITLE})
        client.post("/v1/predict", json={"title": TITLE})  # no image: nothing to keep
        response = client.get("/v1/admin/images/export", headers={"Authorization": f"Bearer {key}"})
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    rows = list(csv.DictReader(io.StringIO(archive.read("labels.csv").decode())))
    assert [(r["title"], r["description"]) for r in rows] == [("Analog Watches for Men", "")]


def test_batch_with_text(listing_client) -> None:
    images = [b64(distinct_png(13)), b64(distinct_png(14))]
    response = listing_client.post(
        "/v1/predict/batch", json={"images": images, "titles": ["Analog watches", None]}
    )
    first, second = response.json()["results"]
    assert first["inputs_used"] == ["image", "title"] and first["label"] == "Watches"
    assert second["inputs_used"] == ["image"] and second["by_input"]["fused"] is None
    # texts alone: one slot each, a blank one fails alone
    texts = {
        "titles": ["Analog watches", " ", None],
        "descriptions": [None, None, "Home furnishing"],
    }
    slots = listing_client.post("/v1/predict/batch", json=texts).json()["results"]
    assert [s.get("label") or s["error"]["code"] for s in slots] == [
        "Watches",
        "empty_text",
        "Home Furnishing",
    ]
    # multipart: titles repeated in the order of the files; a too long one fails its slot
    files = [("files", ("a.png", distinct_png(13), "image/png"))] * 2
    data = {"titles": ["Home furnishing: a bath towel", "x" * 1_001]}
    slots = listing_client.post("/v1/predict/batch", files=files, data=data).json()["results"]
    assert slots[0]["label"] == "Home Furnishing" and slots[0]["inputs_used"][1] == "title"
    assert slots[1]["error"]["code"] == "text_too_long"
    mismatch = listing_client.post(
        "/v1/predict/batch", json={"images": images, "titles": ["one title"]}
    )
    assert_error(mismatch, 422, "text_count_mismatch")
    not_text = listing_client.post("/v1/predict/batch", json={"images": images, "titles": [1, 2]})
    assert [r["error"]["code"] for r in not_text.json()["results"]] == ["invalid_text_field"] * 2


def test_json_text_of_the_wrong_type_is_422(listing_client) -> None:
    body = {"image": b64(distinct_png(15)), "title": ["not", "a", "string"]}
    assert_error(listing_client.post("/v1/predict", json=body), 422, "invalid_text_field")
    batch = {"images": [b64(distinct_png(15))], "titles": "not a list"}
    assert_error(listing_client.post("/v1/predict/batch", json=batch), 422, "invalid_text_field")


@pytest.mark.parametrize(("threshold", "uncertain"), [(0.999, True), (0.0001, False)])
def test_uncertain_uses_the_listings_validation_threshold(
    text_model, settings, artifacts, threshold, uncertain
) -> None:
    from flipkart_contract import read_json_object, write_json_atomic

    path = artifacts / "listing" / LISTING_ID / "card.json"
    card = read_json_object(path)
    card["uncertain_below"] = {"fused:title": threshold, "text:title": threshold}
    write_json_atomic(path, card)
    with TestClient(create_app(settings)) as client:
        fused = client.post(
            "/v1/predict",
            files={"file": ("x.png", distinct_png(3), "image/png")},
            data={"title": TITLE},
        ).json()
        text = client.post("/v1/predict", json={"title": TITLE}).json()
        again = client.post(  # answered from the store: the same threshold
            "/v1/predict",
            files={"file": ("x.png", distinct_png(3), "image/png")},
            data={"title": TITLE},
        ).json()
    assert fused["inputs_used"] == ["image", "title"] and text["inputs_used"] == ["title"]
    assert (fused["uncertain"], text["uncertain"], again["uncertain"]) == (uncertain,) * 3
    assert again["cached"] is True
