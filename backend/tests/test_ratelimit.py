"""Per-client rate limit: on by default, on every route that does work, a batch paying one unit
per image, and X-Forwarded-For believed only from a trusted proxy (in-process and through a
real uvicorn)."""

import httpx
import pytest
from conftest import PROD, make_settings
from fastapi.testclient import TestClient
from flipkart_api.app import create_app
from flipkart_api.cli import proxy_options
from flipkart_api.ratelimit import TokenBuckets
from flipkart_api.settings import Settings
from flipkart_contract.testing import image_bytes
from helpers import write_model, write_registry
from pydantic import ValidationError
from test_e2e import Server

PNG = image_bytes()
ONE = {"file": ("x.png", PNG, "image/png")}
LOOPBACK = ("127.0.0.1", 50000)


def test_token_buckets_allow_a_burst_then_the_rate() -> None:
    buckets = TokenBuckets(per_minute=60, burst=2)
    assert buckets.take("a", now=0.0) == 0
    assert buckets.take("a", now=0.0) == 0
    assert buckets.take("a", now=0.0) == 1.0  # one token per second
    assert buckets.take("b", now=0.0) == 0  # clients are independent
    assert buckets.take("a", now=0.5) == 0.5
    assert buckets.take("a", now=1.0) == 0


def test_token_buckets_charge_a_cost_all_or_nothing() -> None:
    buckets = TokenBuckets(per_minute=60, burst=10)
    assert buckets.take("a", now=0.0, cost=7) == 0
    assert buckets.take("a", now=0.0, cost=4) == 1.0  # 3 left: refused, nothing taken
    assert buckets.take("a", now=0.0, cost=3) == 0
    assert buckets.take("a", now=0.0, cost=1) == 1.0
    # A cost above the burst costs a full bucket, never an endless refusal.
    assert buckets.take("b", now=0.0, cost=50) == 0
    assert buckets.take("b", now=0.0, cost=1) == 1.0


def test_token_buckets_forget_old_clients() -> None:
    buckets = TokenBuckets(per_minute=60, burst=1, max_clients=3)
    for i in range(10):
        buckets.take(f"client-{i}", now=0.0)
    assert len(buckets._buckets) == 3


def test_on_by_default_with_documented_limits(artifacts) -> None:
    defaults = Settings()
    assert defaults.rate_limit_per_minute == 300 and defaults.rate_limit_burst == 64
    assert defaults.rate_limit_burst >= defaults.max_batch_images  # a full batch can pass
    assert defaults.trusted_proxies == ""
    app = create_app(make_settings(artifacts))
    app.state.rate_limiter.buckets.clock = lambda: 100.0  # no refill while the test runs
    with TestClient(app) as client:
        body = {"prediction_id": "no-such-id", "label": "Watches"}
        statuses = [client.post("/v1/feedback", json=body).status_code for _ in range(64)]
        assert set(statuses) == {401}  # no feedback token: refused, but each one counted
        limited = client.post("/v1/feedback", json=body)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1


def _single(client: TestClient, route: str) -> httpx.Response:
    if route == "/v1/feedback":
        return client.post(route, json={"prediction_id": "nope", "label": "Watches"})
    if route == "/v1/predict/batch":
        return client.post(route, files=[("files", ONE["file"])])
    if route in ("/predict", "/normalize"):  # the original app's JSON routes
        return client.post(route, json={"image": ""})
    return client.post(route, files=ONE)


@pytest.mark.parametrize(
    "route",
    [
        "/v1/predict",
        "/v1/predict/batch",
        "/v1/preprocess",
        "/predict",
        "/normalize",
        "/v1/feedback",
    ],
)
def test_every_route_that_does_work_answers_429_with_retry_after(artifacts, route) -> None:
    settings = make_settings(artifacts, rate_limit_per_minute=1, rate_limit_burst=2)
    with TestClient(create_app(settings)) as client:
        assert _single(client, route).status_code != 429
        assert _single(client, route).status_code != 429
        limited = _single(client, route)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.json()["error"]["code"] == "rate_limited"
        # Reading routes are not limited.
        assert client.get("/v1/models").status_code == 200
        assert client.get("/health").status_code == 200


def test_routes_share_one_bucket_per_client(artifacts) -> None:
    settings = make_settings(artifacts, rate_limit_per_minute=1, rate_limit_burst=3)
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/predict", files=ONE).status_code == 200
        assert client.post("/v1/preprocess", files=ONE).status_code == 200
        assert _single(client, "/normalize").status_code != 429
        assert client.post("/v1/predict", files=ONE).status_code == 429


def test_a_batch_of_n_images_costs_n(artifacts) -> None:
    settings = make_settings(artifacts, rate_limit_per_minute=1, rate_limit_burst=5)
    three = [("files", ("x.png", PNG, "image/png"))] * 3
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/predict/batch", files=three).status_code == 200  # 2 left
        refused = client.post("/v1/predict/batch", files=three)  # 1 charged up front, 2 short
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert client.post("/v1/predict", files=ONE).status_code == 200  # the last unit
        assert client.post("/v1/predict", files=ONE).status_code == 429


def test_a_batch_larger_than_the_burst_takes_the_whole_bucket(artifacts) -> None:
    settings = make_settings(artifacts, rate_limit_per_minute=1, rate_limit_burst=4)
    six = [("files", ("x.png", PNG, "image/png"))] * 6
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/predict/batch", files=six).status_code == 200
        assert client.post("/v1/predict", files=ONE).status_code == 429


def test_rotating_forwarded_for_from_an_untrusted_peer_stays_limited(artifacts) -> None:
    # A loopback peer, and no trusted proxy configured: the header is the client's own claim.
    settings = make_settings(artifacts, rate_limit_per_minute=1, rate_limit_burst=2)
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        statuses = [
            client.post(
                "/v1/predict", files=ONE, headers={"x-forwarded-for": f"10.0.0.{i}"}
            ).status_code
            for i in range(4)
        ]
    assert statuses == [200, 200, 429, 429]


def test_forwarded_for_is_honoured_from_a_trusted_peer_only(artifacts) -> None:
    settings = make_settings(
        artifacts, rate_limit_per_minute=1, rate_limit_burst=1, trusted_proxies="127.0.0.0/8"
    )
    app = create_app(settings)
    with TestClient(app, client=LOOPBACK) as client:
        for address in ("1.1.1.1", "2.2.2.2"):
            headers = {"x-forwarded-for": address}
            assert client.post("/v1/predict", files=ONE, headers=headers).status_code == 200
        # The right-most untrusted hop is the client: addresses it put on the left are ignored.
        for spoof in ("9.9.9.1", "9.9.9.2"):
            headers = {"x-forwarded-for": f"{spoof}, 1.1.1.1"}
            assert client.post("/v1/predict", files=ONE, headers=headers).status_code == 429
        # A chain of trusted proxies is walked through.
        headers = {"x-forwarded-for": "3.3.3.3, 127.0.0.5"}
        assert client.post("/v1/predict", files=ONE, headers=headers).status_code == 200
    with TestClient(app, client=("192.0.2.7", 50000)) as outsider:  # not a trusted proxy
        headers = {"x-forwarded-for": "4.4.4.4"}
        assert outsider.post("/v1/predict", files=ONE, headers=headers).status_code == 200
        headers = {"x-forwarded-for": "5.5.5.5"}
        assert outsider.post("/v1/predict", files=ONE, headers=headers).status_code == 429


def test_off_when_set_to_zero(artifacts) -> None:
    settings = make_settings(artifacts, rate_limit_per_minute=0, rate_limit_burst=1)
    with TestClient(create_app(settings)) as client:
        assert all(client.post("/v1/preprocess", files=ONE).status_code == 200 for _ in range(5))


def test_proxy_settings_are_checked(artifacts) -> None:
    with pytest.raises(ValidationError, match="not an IP or CIDR"):
        make_settings(artifacts, trusted_proxies="10.0.0.0/8, proxy.example")
    with pytest.raises(ValidationError, match="FLIPKART_TRUSTED_PROXIES"):
        make_settings(artifacts, rate_limit_trust_forwarded=True)
    assert make_settings(artifacts, trusted_proxies="*").trusted_networks()


def test_uvicorn_believes_forwarded_headers_from_the_trusted_proxies_only() -> None:
    assert proxy_options(Settings()) == {"proxy_headers": False, "forwarded_allow_ips": ""}
    trusted = Settings(trusted_proxies=" 10.0.0.0/8 , 127.0.0.1")
    assert proxy_options(trusted) == {
        "proxy_headers": True,
        "forwarded_allow_ips": "10.0.0.0/8,127.0.0.1",
    }


@pytest.fixture(scope="module")
def real_servers(tmp_path_factory):
    """`flipkart-api serve` on 127.0.0.1: default proxy settings, and 127.0.0.1 trusted."""
    root = tmp_path_factory.mktemp("ratelimit") / "artifacts"
    write_model(root, PROD, method="pad", size=32)
    write_registry(root, PROD, [PROD])
    limits = {"FLIPKART_RATE_LIMIT_PER_MINUTE": "1", "FLIPKART_RATE_LIMIT_BURST": "2"}
    started = [
        Server(root, root.parent / "default.log", FLIPKART_STORE_ENABLED="false", **limits),
        Server(
            root,
            root.parent / "trusted.log",
            FLIPKART_STORE_ENABLED="false",
            FLIPKART_TRUSTED_PROXIES="127.0.0.1",
            **limits,
        ),
    ]
    try:
        yield [s.wait_started() for s in started]
    finally:
        for running in started:
            running.stop()


@pytest.mark.parametrize(
    ("which", "network", "expected"),
    [
        pytest.param(0, "10.1", [200, 200, 429, 429], id="ignored-from-loopback-by-default"),
        pytest.param(1, "10.2", [200] * 4, id="honoured-from-a-trusted-proxy"),
    ],
)
def test_a_real_server_uses_forwarded_for_only_from_a_trusted_proxy(
    real_servers, which, network, expected
) -> None:
    server = real_servers[which]
    statuses = [
        httpx.post(
            f"{server.url}/v1/predict", files=ONE, headers={"x-forwarded-for": f"{network}.0.{i}"}
        ).status_code
        for i in range(4)
    ]
    assert statuses == expected
