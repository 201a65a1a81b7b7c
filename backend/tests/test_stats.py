"""`GET /v1/stats`: figures checked against the stored rows and the registry history.

The statistics are made public here (`stats_private=False`): access is test_auth's subject."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from conftest import OTHER, PROD, make_settings
from fastapi.testclient import TestClient
from flipkart_api.app import create_app
from flipkart_api.store.database import database_url, make_engine
from flipkart_api.store.predictions import sqlite_path
from flipkart_api.store.tables import Prediction
from flipkart_contract import Registry, load_registry, write_json_atomic
from flipkart_contract.testing import FLIPKART_CLASSES as CLASSES
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from test_store_helpers import distinct_png


def post(client, i: int, model: str | None = None) -> dict:
    query = f"?model={model}" if model else ""
    files = {"file": ("x.png", distinct_png(i), "image/png")}
    response = client.post(f"/v1/predict{query}", files=files)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def settings(artifacts):
    return make_settings(artifacts, stats_private=False)


def feedback(client, prediction: dict, label: str) -> None:
    body = {"prediction_id": prediction["id"], "label": label}
    headers = {"X-Feedback-Token": prediction["feedback_token"]}
    assert client.post("/v1/feedback", json=body, headers=headers).status_code == 200


def backdate(settings, ids: list[str], days: float) -> None:
    engine = make_engine(database_url(None, sqlite_path(settings)))
    moment = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)
    with Session(engine) as session:
        session.execute(update(Prediction).where(Prediction.id.in_(ids)).values(created_at=moment))
        session.commit()
    engine.dispose()


def stored_latencies(settings) -> list[float]:
    engine = make_engine(database_url(None, sqlite_path(settings)))
    cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=24)
    with Session(engine) as session:
        query = select(Prediction.latency_total_ms).where(Prediction.created_at >= cutoff)
        values = list(session.scalars(query))
    engine.dispose()
    return values


def promote_at(artifacts, moment: datetime) -> None:
    registry = load_registry(artifacts / "registry.json").model_dump(mode="json")
    registry["history"] = [
        {
            "at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "run_id": PROD,
            "by": "test",
            "rule": "test",
            "decided_by": {"metric": "test_accuracy", "value": 0.5},
        }
    ]
    write_json_atomic(artifacts / "registry.json", Registry.model_validate(registry))


def test_stats_match_the_stored_predictions(artifacts) -> None:
    settings = make_settings(artifacts, uncertain_threshold=0.3, stats_private=False)
    with TestClient(create_app(settings)) as client:
        old = [post(client, i) for i in range(3)]  # three days ago, before the promotion
        backdate(settings, [p["id"] for p in old], days=3)
        promote_at(artifacts, datetime.now(UTC) - timedelta(days=1))
        recent = [post(client, i) for i in range(10, 16)]
        recent.append(post(client, 0, model=OTHER))  # an old image on another model: not new
        right, wrong = recent[0], recent[1]
        feedback(client, right, right["label"])
        feedback(client, wrong, next(c for c in CLASSES if c != wrong["label"]))

        stats = client.get("/v1/stats?window_hours=24&last_n=3").json()

    assert stats["database"] == "sqlite"
    assert stats["predictions"] == len(recent) == 7
    assert stats["by_label"] == dict(Counter(p["label"] for p in recent))
    assert stats["by_model"] == {PROD: 6, OTHER: 1}
    assert stats["by_architecture"] == {"tiny_net": 6, "other_net": 1}
    assert stats["uncertain_share"] == sum(p["uncertain"] for p in recent) / 7
    last_three = recent[-3:]
    assert stats["last_n"]["count"] == 3
    assert (
        abs(stats["last_n"]["mean_confidence"] - np.mean([p["confidence"] for p in last_three]))
        < 1e-9
    )
    assert stats["feedback"] == {"count": 2, "correct": 1, "accuracy": 0.5}
    latencies = stored_latencies(settings)
    assert stats["latency_ms"]["count"] == 7
    assert stats["latency_ms"]["p50"] == round(float(np.percentile(latencies, 50)), 3)
    assert stats["latency_ms"]["p50"] <= stats["latency_ms"]["p95"] <= stats["latency_ms"]["p99"]
    since = stats["since_promotion"]
    assert since["production"] == PROD and since["promoted_at"] is not None
    assert since["new_distinct_images"] == 6  # images 10..15; image 0 was seen before


def test_a_wider_window_counts_the_older_predictions(artifacts) -> None:
    settings = make_settings(artifacts, stats_private=False)
    with TestClient(create_app(settings)) as client:
        old = post(client, 1)
        backdate(settings, [old["id"]], days=3)
        post(client, 2)
        assert client.get("/v1/stats").json()["predictions"] == 1
        assert client.get("/v1/stats?window_hours=96").json()["predictions"] == 2
        # No promotion history: distinct images since the store began.
        assert client.get("/v1/stats").json()["since_promotion"]["new_distinct_images"] == 2


def test_empty_store_gives_nulls_not_errors(client) -> None:
    stats = client.get("/v1/stats").json()
    assert stats["predictions"] == 0 and stats["latency_ms"] is None
    assert stats["last_n"]["mean_confidence"] is None and stats["feedback"]["accuracy"] is None


def test_bad_query_parameters_are_422(client) -> None:
    for query in ("window_hours=0", "window_hours=-1", "window_hours=abc", "last_n=0"):
        response = client.get(f"/v1/stats?{query}")
        assert response.status_code == 422, query
        assert response.json()["error"]["code"] == "invalid_request"
