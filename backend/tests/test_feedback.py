"""`POST /v1/feedback`: the true label of a stored prediction."""

import pytest
from flipkart_contract.testing import FLIPKART_CLASSES as CLASSES
from test_store_helpers import distinct_png


def predict(client, i: int = 1) -> dict:
    files = {"file": ("x.png", distinct_png(i), "image/png")}
    response = client.post("/v1/predict", files=files)
    assert response.status_code == 200, response.text
    return response.json()


def test_feedback_is_recorded_and_a_second_one_replaces_it(client) -> None:
    prediction = predict(client)
    other = next(c for c in CLASSES if c != prediction["label"])
    first = client.post("/v1/feedback", json={"prediction_id": prediction["id"], "label": other})
    assert first.status_code == 200, first.text
    assert first.json() == {
        "prediction_id": prediction["id"],
        "label": other,
        "predicted_label": prediction["label"],
        "correct": False,
        "replaced": False,
    }
    second = client.post(
        "/v1/feedback", json={"prediction_id": prediction["id"], "label": prediction["label"]}
    )
    assert second.status_code == 200
    assert second.json()["correct"] is True and second.json()["replaced"] is True
    feedback = client.get("/v1/stats").json()["feedback"]
    assert feedback == {"count": 1, "correct": 1, "accuracy": 1.0}


def test_unknown_prediction_is_404(client) -> None:
    response = client.post("/v1/feedback", json={"prediction_id": "f" * 32, "label": "Watches"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_prediction"


def test_unknown_label_is_422_and_lists_the_valid_ones(client) -> None:
    prediction = predict(client)
    response = client.post(
        "/v1/feedback", json={"prediction_id": prediction["id"], "label": "Spaceships"}
    )
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
