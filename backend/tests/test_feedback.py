"""`POST /v1/feedback` and `GET /v1/predictions/{id}`: bound to the prediction's feedback token
(`X-Feedback-Token`) or the admin key; anything else is refused and writes nothing."""

import hashlib
import hmac

import pytest
from conftest import make_settings
from fastapi.testclient import TestClient
from flipkart_api import tokens
from flipkart_api.app import create_app
from flipkart_api.store import repository
from flipkart_api.store.database import database_url, make_engine
from flipkart_api.store.predictions import sqlite_path
from flipkart_contract.testing import FLIPKART_CLASSES as CLASSES
from pydantic import ValidationError
from test_store_helpers import distinct_png

KEY = "admin-key-for-feedback-tests"
ADMIN = {"Authorization": f"Bearer {KEY}"}
SECRET = "s" * 40  # a configured FLIPKART_FEEDBACK_SECRET


def predict(client, i: int = 1) -> dict:
    files = {"file": ("x.png", distinct_png(i), "image/png")}
    response = client.post("/v1/predict", files=files)
    assert response.status_code == 200, response.text
    return response.json()


def token_of(prediction: dict) -> dict:
    return {"X-Feedback-Token": prediction["feedback_token"]}


def send(client, prediction_id: str, label: str, headers: dict | None = None):
    body = {"prediction_id": prediction_id, "label": label}
    return client.post("/v1/feedback", json=body, headers=headers or {})


def stored_feedback(settings, prediction_id: str):
    engine = make_engine(database_url(None, sqlite_path(settings)))
    try:
        return repository.get_feedback(engine, prediction_id)
    finally:
        engine.dispose()


@pytest.fixture
def admin_settings(artifacts):
    return make_settings(artifacts, admin_key_sha256=hashlib.sha256(KEY.encode()).hexdigest())


@pytest.fixture
def admin_client(admin_settings):
    with TestClient(create_app(admin_settings)) as client:
        yield client


def test_feedback_with_its_token_is_recorded_and_a_second_one_replaces_it(
    admin_client, admin_settings
) -> None:
    prediction = predict(admin_client)
    assert len(prediction["feedback_token"]) == 64
    other = next(c for c in CLASSES if c != prediction["label"])
    first = send(admin_client, prediction["id"], other, token_of(prediction))
    assert first.status_code == 200, first.text
    assert first.json() == {
        "prediction_id": prediction["id"],
        "label": other,
        "predicted_label": prediction["label"],
        "correct": False,
        "replaced": False,
        "source": "feedback-token",
    }
    assert stored_feedback(admin_settings, prediction["id"]).source == "feedback-token"
    second = send(admin_client, prediction["id"], prediction["label"], token_of(prediction))
    assert second.status_code == 200
    assert second.json()["correct"] is True and second.json()["replaced"] is True
    feedback = admin_client.get("/v1/stats", headers=ADMIN).json()["feedback"]
    assert feedback == {"count": 1, "correct": 1, "accuracy": 1.0}


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "missing_feedback_token"),
        ({"X-Feedback-Token": ""}, 401, "missing_feedback_token"),
        ({"X-Feedback-Token": "0" * 64}, 403, "invalid_feedback_token"),
        ({"X-Feedback-Token": "not even hex"}, 403, "invalid_feedback_token"),
        ("other", 403, "invalid_feedback_token"),  # the token of another prediction
        ({"Authorization": "Bearer wrong key"}, 401, "invalid_api_key"),
        ({"Authorization": "Basic xyz"}, 401, "missing_api_key"),
        ({"X-Feedback-Token": "a" * 129}, 422, "invalid_request"),
    ],
)
def test_feedback_without_a_valid_token_is_refused_and_writes_nothing(
    admin_client, admin_settings, headers, status, code
) -> None:
    target, other = predict(admin_client, 1), predict(admin_client, 2)
    if headers == "other":
        headers = token_of(other)
    response = send(admin_client, target["id"], "Watches", headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert stored_feedback(admin_settings, target["id"]) is None
    assert stored_feedback(admin_settings, other["id"]) is None
    read = admin_client.get(f"/v1/predictions/{target['id']}", headers=token_of(target))
    assert read.json()["feedback"] is None


def test_admin_key_gives_feedback_and_is_recorded_as_admin(admin_client, admin_settings) -> None:
    prediction = predict(admin_client)
    response = send(admin_client, prediction["id"], "Watches", ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["source"] == "admin"
    assert stored_feedback(admin_settings, prediction["id"]).source == "admin"
    # A token that opens the way is enough, whatever else is sent.
    wrong_key = {"Authorization": "Bearer wrong", **token_of(prediction)}
    again = send(admin_client, prediction["id"], "Computers", wrong_key)
    assert again.status_code == 200 and again.json()["source"] == "feedback-token"


def test_a_bearer_key_when_no_admin_key_is_configured_is_403(client) -> None:
    prediction = predict(client)
    response = send(client, prediction["id"], "Watches", {"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "admin_disabled"


def test_unknown_prediction_is_404_only_once_authorised(admin_client) -> None:
    unknown = "f" * 32
    anonymous = send(admin_client, unknown, "Watches")
    assert anonymous.status_code == 401  # nobody learns which ids exist
    response = send(admin_client, unknown, "Watches", ADMIN)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_prediction"


def test_unknown_label_is_422_and_lists_the_valid_ones(client) -> None:
    prediction = predict(client)
    response = send(client, prediction["id"], "Spaceships", token_of(prediction))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_label" and "Watches" in error["message"]


@pytest.mark.parametrize(
    "body",
    [{}, {"prediction_id": "x"}, {"label": "Watches"}, {"prediction_id": "", "label": "Watches"},
     {"prediction_id": 5, "label": "Watches"}, {"prediction_id": "x" * 65, "label": "Watches"}],
)  # fmt: skip
def test_malformed_bodies_are_422(client, body) -> None:
    response = client.post("/v1/feedback", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


def test_not_json_is_a_client_error(client) -> None:
    response = client.post(
        "/v1/feedback", content=b"\x00\x01", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


# ---- the tokens -----------------------------------------------------------------------------


def test_the_token_is_the_hmac_sha256_of_the_id_with_the_configured_secret(artifacts) -> None:
    with TestClient(create_app(make_settings(artifacts, feedback_secret=SECRET))) as client:
        prediction = predict(client)
    message = b"prediction:" + prediction["id"].encode()
    expected = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    assert prediction["feedback_token"] == expected


def test_tokens_are_compared_in_constant_time(monkeypatch) -> None:
    calls = []

    def spy(a, b):
        calls.append((a, b))
        return a == b

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    token = tokens.feedback_token(b"k" * 32, "abc")
    assert tokens.token_matches(b"k" * 32, "abc", token) is True
    assert tokens.token_matches(b"k" * 32, "abd", token) is False
    assert len(calls) == 2


def test_a_short_configured_secret_stops_the_start_up(artifacts) -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        make_settings(artifacts, feedback_secret="too short")


def test_the_generated_key_survives_a_restart(artifacts) -> None:
    """Unset secret: generated once, kept in the store, so a restarted service (or another
    replica on the same database) accepts the tokens it gave before."""
    settings = make_settings(artifacts)
    with TestClient(create_app(settings)) as client:
        prediction = predict(client)
    with TestClient(create_app(settings)) as restarted:
        assert predict(restarted)["feedback_token"] == prediction["feedback_token"]  # cached row
        response = send(restarted, prediction["id"], "Watches", token_of(prediction))
        assert response.status_code == 200, response.text
    other_database = make_settings(artifacts, database_path=artifacts.parent / "other.sqlite3")
    with TestClient(create_app(other_database)) as elsewhere:
        assert predict(elsewhere)["feedback_token"] != prediction["feedback_token"]


def test_batch_and_original_routes_answer_tokens_that_open_only_their_own_prediction(
    client,
) -> None:
    files = [("files", (f"{i}.png", distinct_png(i), "image/png")) for i in (1, 2)]
    first, second = client.post("/v1/predict/batch", files=files).json()["results"]
    assert first["id"] != second["id"] and first["feedback_token"] != second["feedback_token"]
    assert send(client, first["id"], "Watches", token_of(second)).status_code == 403
    assert send(client, first["id"], "Watches", token_of(first)).status_code == 200
    assert send(client, second["id"], "Watches", token_of(second)).status_code == 200
    legacy = client.post("/predict", files={"file": ("x.png", distinct_png(3), "image/png")})
    answer = legacy.json()
    assert answer["id"] and answer["feedback_token"]
    assert send(client, answer["id"], "Watches", token_of(answer)).status_code == 200


# ---- GET /v1/predictions/{id} ---------------------------------------------------------------


def test_a_prediction_is_read_back_with_its_token(admin_client) -> None:
    prediction = predict(admin_client)
    response = admin_client.get(f"/v1/predictions/{prediction['id']}", headers=token_of(prediction))
    assert response.status_code == 200, response.text
    stored = response.json()
    assert stored["id"] == prediction["id"] and stored["label"] == prediction["label"]
    assert stored["model"] == prediction["model"]
    assert stored["probabilities"] == prediction["probabilities"]
    assert stored["confidence"] == prediction["confidence"]
    assert stored["source"] == "upload" and stored["created_at"].endswith("Z")
    assert stored["feedback"] is None
    other = next(c for c in CLASSES if c != prediction["label"])
    send(admin_client, prediction["id"], other, token_of(prediction))
    feedback = admin_client.get(f"/v1/predictions/{prediction['id']}", headers=ADMIN).json()
    assert feedback["feedback"]["label"] == other
    assert feedback["feedback"]["correct"] is False
    assert feedback["feedback"]["source"] == "feedback-token"
    assert feedback["feedback"]["updated_at"].endswith("Z")


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "missing_feedback_token"),
        ({"X-Feedback-Token": "0" * 64}, 403, "invalid_feedback_token"),
        ("other", 403, "invalid_feedback_token"),
        ({"Authorization": "Bearer wrong key"}, 401, "invalid_api_key"),
    ],
)
def test_reading_a_prediction_without_its_token_is_refused(
    admin_client, headers, status, code
) -> None:
    target, other = predict(admin_client, 1), predict(admin_client, 2)
    if headers == "other":
        headers = token_of(other)
    response = admin_client.get(f"/v1/predictions/{target['id']}", headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert "probabilities" not in response.text


def test_an_unknown_prediction_id_is_404(artifacts) -> None:
    with TestClient(create_app(make_settings(artifacts, feedback_secret=SECRET))) as client:
        unknown = "e" * 32
        forged = {"X-Feedback-Token": tokens.feedback_token(SECRET.encode(), unknown)}
        response = client.get(f"/v1/predictions/{unknown}", headers=forged)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "unknown_prediction"
        assert client.get(f"/v1/predictions/{unknown}").status_code == 401
        assert client.get(f"/v1/predictions/{'x' * 65}", headers=forged).status_code == 422


def test_reading_a_prediction_when_the_store_is_disabled_is_503(artifacts) -> None:
    with TestClient(create_app(make_settings(artifacts, store_enabled=False))) as client:
        response = client.get(f"/v1/predictions/{'e' * 32}", headers=ADMIN)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "store_disabled"
