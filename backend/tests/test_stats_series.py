"""`GET /v1/stats/series`: requests over time counted from the `requests` table (cache hits
included, which `predictions` cannot count), latency percentiles per bucket, the answered
labels' mix, and the refusals."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np
import pytest
from conftest import make_settings
from fastapi.testclient import TestClient
from flipkart_api.app import create_app
from flipkart_api.store.database import database_url, make_engine
from flipkart_api.store.predictions import sqlite_path
from flipkart_api.store.tables import RequestLog
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from test_stats import post


@pytest.fixture
def settings(artifacts):
    return make_settings(artifacts, stats_private=False)


def engine_of(settings):
    return make_engine(database_url(None, sqlite_path(settings)))


def backdate_requests(settings, hours: float, count: int) -> None:
    """Move the `count` oldest request rows `hours` into the past."""
    engine = engine_of(settings)
    moment = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=hours)
    with Session(engine) as session:
        ids = session.scalars(select(RequestLog.id).order_by(RequestLog.id).limit(count)).all()
        session.execute(update(RequestLog).where(RequestLog.id.in_(ids)).values(created_at=moment))
        session.commit()
    engine.dispose()


def test_every_request_is_counted_cache_hits_included(settings) -> None:
    with TestClient(create_app(settings)) as client:
        first = [post(client, i) for i in range(3)]
        again = [post(client, i) for i in (0, 0, 1)]  # answered from the store
        series = client.get("/v1/stats/series?window_hours=2&bucket_minutes=60").json()
        stats = client.get("/v1/stats").json()
    assert all(a["cached"] for a in again) and not any(f["cached"] for f in first)
    assert stats["predictions"] == 3  # distinct inputs: what /v1/stats counts
    assert series["requests"] == 6 and series["cache_hits"] == 3
    assert sum(b["requests"] for b in series["buckets"]) == 6
    assert series["by_label"] == dict(Counter(p["label"] for p in first + again))
    assert series["bucket_minutes"] == 60 and not series["truncated"]


def test_buckets_cover_the_window_oldest_first_with_their_percentiles(settings) -> None:
    with TestClient(create_app(settings)) as client:
        for i in range(4):
            post(client, i)
        backdate_requests(settings, hours=5, count=3)  # three requests five hours ago
        post(client, 9)
        series = client.get("/v1/stats/series?window_hours=12&bucket_minutes=60").json()
    buckets = series["buckets"]
    starts = [datetime.fromisoformat(b["start"].replace("Z", "")) for b in buckets]
    assert len(buckets) in (12, 13) and starts == sorted(starts)
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(starts))
    assert all(s.minute == 0 and s.second == 0 for s in starts)  # aligned on the clock
    counts = [b["requests"] for b in buckets]
    assert counts[-1] == 2 and counts[-6] == 3 and sum(counts) == 5
    empty = [b for b in buckets if b["requests"] == 0]
    assert empty and all(b["latency_ms"] is None and b["cache_hits"] == 0 for b in empty)
    engine = engine_of(settings)
    with Session(engine) as session:
        old = session.scalars(
            select(RequestLog.latency_total_ms).order_by(RequestLog.id).limit(3)
        ).all()
    engine.dispose()
    assert buckets[-6]["latency_ms"]["p50"] == round(float(np.percentile(old, 50)), 3)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("window_hours=0", "invalid_request"),
        ("bucket_minutes=0", "invalid_request"),
        ("window_hours=8000&bucket_minutes=1", "too_many_buckets"),
        ("bucket_minutes=abc", "invalid_request"),
    ],
)
def test_bad_queries_are_422(client, query, code) -> None:
    response = client.get(f"/v1/stats/series?{query}")
    assert response.status_code == 422 and response.json()["error"]["code"] == code


def test_private_by_default_and_503_without_a_store(artifacts) -> None:
    with TestClient(create_app(make_settings(artifacts))) as client:
        assert client.get("/v1/stats/series").status_code == 401
    off = make_settings(artifacts, stats_private=False, store_enabled=False)
    with TestClient(create_app(off)) as client:
        response = client.get("/v1/stats/series")
        assert response.status_code == 503 and response.json()["error"]["code"] == "store_disabled"
