"""The predict path with the store: ids, cache hits answered without the model, outages."""

import base64
import sqlite3

import pytest
from conftest import OTHER, PROD, make_settings
from fastapi.testclient import TestClient
from flipkart_api.app import create_app
from flipkart_api.store.predictions import sqlite_path
from flipkart_contract.testing import image_bytes
from test_store_helpers import (  # noqa: F401 (fixtures)
    database_fixture,
    distinct_png,
    postgres_cluster_fixture,
)


def batches_run(client: TestClient, run_id: str = PROD) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'inference_batch_size_count{{model="{run_id}"}} '):
            return float(line.split()[-1])
    return 0.0


def upload(data: bytes) -> dict:
    return {"files": {"file": ("x.png", data, "image/png")}}


def test_same_image_and_model_is_answered_from_the_store(artifacts, database) -> None:
    with TestClient(create_app(make_settings(artifacts, **database))) as client:
        data = distinct_png(1)
        first = client.post("/v1/predict", **upload(data)).json()
        second = client.post("/v1/predict?top_k=2", **upload(data)).json()
        assert first["cached"] is False and isinstance(first["id"], str)
        assert second["cached"] is True and second["id"] == first["id"]
        assert batches_run(client) == 1  # the model ran once
        assert second["probabilities"] == first["probabilities"][:2]
        assert (second["label"], second["confidence"]) == (first["label"], first["confidence"])
        assert second["latency_ms"]["inference"] == 0.0
        # The same bytes as base64 JSON and through the original route: still one stored row.
        as_json = client.post("/v1/predict", json={"image": base64.b64encode(data).decode()})
        assert as_json.json()["id"] == first["id"] and as_json.json()["cached"] is True
        assert client.post("/predict", json={"image": base64.b64encode(data).decode()}).json()[
            "cached"
        ]
        # Another model is another prediction.
        other = client.post(f"/v1/predict?model={OTHER}", **upload(data)).json()
        assert other["cached"] is False and other["id"] != first["id"]
        # Another image is another prediction.
        fresh = client.post("/v1/predict", **upload(distinct_png(2))).json()
        assert fresh["cached"] is False and fresh["id"] != first["id"]
        assert batches_run(client) == 2


def test_batch_slots_are_stored_and_cached_one_by_one(client) -> None:
    files = [("files", (f"{i}.png", distinct_png(i), "image/png")) for i in (5, 6, 5)]
    results = client.post("/v1/predict/batch", files=files).json()["results"]
    ids = [r["id"] for r in results]
    assert ids[0] == ids[2] and ids[0] != ids[1] and all(ids)
    again = client.post("/v1/predict/batch", files=files).json()["results"]
    assert [r["id"] for r in again] == ids and all(r["cached"] for r in again)


def test_cache_can_be_turned_off_but_predictions_are_still_stored(artifacts) -> None:
    settings = make_settings(artifacts, prediction_cache=False)
    with TestClient(create_app(settings)) as client:
        first = client.post("/v1/predict", **upload(distinct_png(3))).json()
        second = client.post("/v1/predict", **upload(distinct_png(3))).json()
        assert second["cached"] is False and second["id"] == first["id"]  # one row per pair
        assert batches_run(client) == 2


def test_store_disabled_answers_without_id(artifacts) -> None:
    with TestClient(create_app(make_settings(artifacts, store_enabled=False))) as client:
        body = client.post("/v1/predict", **upload(image_bytes())).json()
        assert body["id"] is None and body["cached"] is False
        assert body["feedback_token"] is None
        response = client.post("/v1/feedback", json={"prediction_id": "x", "label": "Watches"})
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "store_disabled"
    assert not (artifacts.parent / "var").exists()


def test_database_outage_keeps_answering_and_acknowledges_nothing_unstored(artifacts) -> None:
    """A writer holding SQLite's write lock makes the store unavailable: a real outage."""
    settings = make_settings(artifacts, database_timeout_s=0.3)
    with TestClient(create_app(settings)) as client:
        stored = client.post("/v1/predict", **upload(distinct_png(10))).json()
        assert stored["id"]
        assert client.get("/ready").json() == {"status": "ready", "model": PROD}
        blocker = sqlite3.connect(sqlite_path(settings), timeout=0.1, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            during = client.post("/v1/predict", **upload(distinct_png(11)))
            assert during.status_code == 200, during.text
            assert during.json()["id"] is None  # answered, but not acknowledged as stored
            assert during.json()["feedback_token"] is None
            ready = client.get("/ready")
            assert ready.status_code == 200
            assert ready.json()["status"] == "degraded"
            assert "database unavailable" in ready.json()["reason"]
            feedback = client.post(
                "/v1/feedback",
                json={"prediction_id": stored["id"], "label": "Watches"},
                headers={"X-Feedback-Token": stored["feedback_token"]},
            )
            assert feedback.status_code == 503
            assert feedback.json()["error"]["code"] == "database_unavailable"
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert client.get("/ready").json()["status"] == "ready"
        after = client.post("/v1/predict", **upload(distinct_png(11))).json()
        assert after["id"] and after["cached"] is False
        # The earlier cache hit still comes from the store.
        assert client.post("/v1/predict", **upload(distinct_png(10))).json()["id"] == stored["id"]


def test_database_down_at_start_up_the_service_still_serves(artifacts) -> None:
    settings = make_settings(
        artifacts,
        database_url="postgresql://nobody@127.0.0.1:9/none",  # port 9: nothing listens
        database_timeout_s=1,
    )
    with TestClient(create_app(settings)) as client:
        body = client.post("/v1/predict", **upload(image_bytes())).json()
        assert body["id"] is None and body["label"]
        ready = client.get("/ready").json()
        assert ready["status"] == "degraded" and "postgresql" in ready["reason"]


@pytest.mark.parametrize("path", ["/v1/stats", "/v1/feedback"])
def test_routes_are_in_the_openapi_schema(client, path) -> None:
    assert path in client.get("/openapi.json").json()["paths"]
