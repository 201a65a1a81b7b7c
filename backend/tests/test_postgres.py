"""A PostgreSQL outage in the middle of the service's life: answers go on, nothing unstored is
acknowledged, `/ready` says so, and storing resumes when the server is back."""

import time

from conftest import PROD, make_settings
from fastapi.testclient import TestClient
from flipkart_api.app import create_app
from test_store_helpers import distinct_png, postgres_cluster_fixture  # noqa: F401 (fixture)


def post(client, i: int) -> dict:
    response = client.post("/v1/predict", files={"file": ("x.png", distinct_png(i), "image/png")})
    assert response.status_code == 200, response.text
    return response.json()


def test_server_stopped_then_restarted(artifacts, postgres_cluster) -> None:
    url = postgres_cluster.new_database()
    settings = make_settings(artifacts, database_url=url, database_timeout_s=2, stats_private=False)
    with TestClient(create_app(settings)) as client:
        before = post(client, 1)
        assert before["id"] and client.get("/ready").json()["status"] == "ready"
        postgres_cluster.stop()
        try:
            during = post(client, 2)
            assert during["id"] is None and during["label"]
            ready = client.get("/ready")
            assert ready.status_code == 200
            assert ready.json()["status"] == "degraded" and "postgresql" in ready.json()["reason"]
            assert client.get("/v1/stats").status_code == 503
        finally:
            postgres_cluster.start()
        assert client.get("/ready").json() == {"status": "ready", "model": PROD}
        after = post(client, 2)
        assert after["id"] and after["cached"] is False
        assert post(client, 1)["id"] == before["id"]  # what was stored before is still there
        token = {"X-Feedback-Token": before["feedback_token"]}  # the key is in the database
        body = {"prediction_id": before["id"], "label": before["label"]}
        assert client.post("/v1/feedback", json=body, headers=token).status_code == 200
        assert client.get("/v1/stats").json()["predictions"] == 2


def test_down_at_start_up_then_up_gives_ids_and_working_tokens(artifacts, postgres_cluster) -> None:
    """The token key is read from the database once it answers, not only at start-up."""
    url = postgres_cluster.new_database()
    settings = make_settings(artifacts, database_url=url, database_timeout_s=2)
    postgres_cluster.stop()
    running = False
    try:
        with TestClient(create_app(settings)) as client:
            during = post(client, 1)
            assert during["id"] is None and during["feedback_token"] is None
            postgres_cluster.start()
            running = True
            deadline = time.monotonic() + 60  # the store retries every few seconds
            while client.get("/ready").json()["status"] != "ready":
                assert time.monotonic() < deadline, "the store never came back"
                time.sleep(0.5)
            after = post(client, 2)
            assert after["id"] and after["feedback_token"]
            body = {"prediction_id": after["id"], "label": after["label"]}
            headers = {"X-Feedback-Token": after["feedback_token"]}
            response = client.post("/v1/feedback", json=body, headers=headers)
            assert response.status_code == 200, response.text
    finally:
        if not running:
            postgres_cluster.start()
