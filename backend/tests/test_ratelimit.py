"""Optional per-client rate limit on the prediction routes."""

from conftest import make_settings
from fastapi.testclient import TestClient
from flipkart_api.app import create_app
from flipkart_api.ratelimit import TokenBuckets
from flipkart_contract.testing import image_bytes


def test_token_buckets_allow_a_burst_then_the_rate() -> None:
    buckets = TokenBuckets(per_minute=60, burst=2)
    assert buckets.take("a", now=0.0) == 0
    assert buckets.take("a", now=0.0) == 0
    assert buckets.take("a", now=0.0) == 1.0  # one token per second
    assert buckets.take("b", now=0.0) == 0  # clients are independent
    assert buckets.take("a", now=0.5) == 0.5
    assert buckets.take("a", now=1.0) == 0


def test_token_buckets_forget_old_clients() -> None:
    buckets = TokenBuckets(per_minute=60, burst=1, max_clients=3)
    for i in range(10):
        buckets.take(f"client-{i}", now=0.0)
    assert len(buckets._buckets) == 3


def test_prediction_routes_answer_429_with_retry_after(artifacts) -> None:
    settings = make_settings(artifacts, rate_limit_per_minute=1, rate_limit_burst=2)
    files = {"file": ("x.png", image_bytes(), "image/png")}
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/predict", files=files).status_code == 200
        assert client.post("/predict", json={"image": ""}).status_code != 429
        limited = client.post("/v1/predict", files=files)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"]["code"] == "rate_limited"
        assert client.post("/v1/predict/batch", files=[("files", files["file"])]).status_code == 429
        # Other routes are not limited.
        assert client.get("/v1/models").status_code == 200
        assert client.get("/health").status_code == 200


def test_forwarded_clients_are_separate_only_when_trusted(artifacts) -> None:
    files = {"file": ("x.png", image_bytes(), "image/png")}
    for trusted, expected in ((True, 200), (False, 429)):
        settings = make_settings(
            artifacts,
            rate_limit_per_minute=1,
            rate_limit_burst=1,
            rate_limit_trust_forwarded=trusted,
        )
        with TestClient(create_app(settings)) as client:
            first = client.post("/v1/predict", files=files, headers={"x-forwarded-for": "1.1.1.1"})
            assert first.status_code == 200
            second = client.post("/v1/predict", files=files, headers={"x-forwarded-for": "2.2.2.2"})
            assert second.status_code == expected


def test_off_by_default(client) -> None:
    files = {"file": ("x.png", image_bytes(), "image/png")}
    assert all(client.post("/v1/predict", files=files).status_code == 200 for _ in range(30))
