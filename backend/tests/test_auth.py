"""Admin access: bearer API key checked against sha256 hashes from the settings."""

import hashlib

import pytest
from conftest import make_settings
from fastapi.testclient import TestClient
from flipkart_api import auth
from flipkart_api.app import create_app
from flipkart_api.settings import Settings
from flipkart_contract.testing import image_bytes

KEY = "correct horse battery staple"
OTHER_KEY = "another admin"


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture
def secured(artifacts):
    settings = make_settings(artifacts, admin_key_sha256=f"{sha(KEY)}, {sha(OTHER_KEY).upper()}")
    with TestClient(create_app(settings)) as client:
        yield client


def test_no_key_configured_means_403_with_how_to_configure(client) -> None:
    for method, path in (("post", "/v1/admin/reload"), ("get", "/v1/admin/images/export")):
        response = getattr(client, method)(path, headers={"Authorization": f"Bearer {KEY}"})
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "admin_disabled"
        assert "FLIPKART_ADMIN_KEY_SHA256" in error["message"] and "sha256" in error["message"]


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_api_key"),
        ("", "missing_api_key"),
        ("Bearer ", "missing_api_key"),
        (f"Basic {KEY}", "missing_api_key"),
        ("Bearer wrong key", "invalid_api_key"),
        (f"Bearer {sha(KEY)}", "invalid_api_key"),  # the hash itself is not a key
    ],
)
def test_missing_or_wrong_key_is_401(secured, header, code) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = secured.post("/v1/admin/reload", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert response.headers["www-authenticate"] == "Bearer"


def test_no_key_sent_is_401_even_when_no_key_is_configured(client) -> None:
    response = client.post("/v1/admin/reload")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "missing_api_key"
    assert "FLIPKART_ADMIN_KEY_SHA256" in error["message"]  # how to turn the admin routes on


MALFORMED_BODIES = [
    b"{not json",
    b"\xff\xfe\x00",
    b'{"run_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"max_latency_ms": ' + b"1" * 5000 + b"}",
]


@pytest.mark.parametrize("body", MALFORMED_BODIES)
def test_the_key_is_checked_before_the_body_is_read(secured, client, body) -> None:
    json_headers = {"content-type": "application/json"}
    without_key = secured.post("/v1/admin/promote", content=body, headers=json_headers)
    assert without_key.status_code == 401
    assert without_key.json()["error"]["code"] == "missing_api_key"
    wrong_key = {**json_headers, "Authorization": "Bearer wrong"}
    assert secured.post("/v1/admin/promote", content=body, headers=wrong_key).status_code == 401
    disabled = client.post("/v1/admin/promote", content=body, headers=wrong_key)
    assert disabled.status_code == 403
    # With the key, the body is read and refused in the error format (400 or 422, documented).
    right_key = {**json_headers, "Authorization": f"Bearer {KEY}"}
    refused = secured.post("/v1/admin/promote", content=body, headers=right_key)
    assert refused.status_code in {400, 422}
    assert set(refused.json()) == {"error"}


def test_right_keys_are_accepted(secured) -> None:
    for key in (KEY, OTHER_KEY):
        response = secured.post("/v1/admin/reload", headers={"Authorization": f"bearer {key}"})
        assert response.status_code == 200, response.text
        assert response.json()["ready"] is True


def test_every_configured_hash_is_compared_in_constant_time(monkeypatch) -> None:
    calls = []

    def spy(a, b):
        calls.append((a, b))
        return a == b

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    hashes = [sha(KEY).encode(), sha(OTHER_KEY).encode()]
    assert auth.key_matches(KEY, hashes) is True  # matches the first, still compares both
    assert len(calls) == 2 and all(len(a) == len(b) == 64 for a, b in calls)
    assert auth.key_matches("nope", hashes) is False


def test_prediction_stays_public_when_a_key_is_configured(secured) -> None:
    files = {"file": ("x.png", image_bytes(), "image/png")}
    assert secured.post("/v1/predict", files=files).status_code == 200


def test_a_malformed_key_hash_stops_the_start_up(artifacts) -> None:
    with pytest.raises(ValueError, match="sha256 hex digests"):
        create_app(make_settings(artifacts, admin_key_sha256="my-plain-secret"))


def test_stats_are_private_by_default(artifacts) -> None:
    settings = make_settings(artifacts, admin_key_sha256=sha(KEY))
    assert settings.stats_private is True
    with TestClient(create_app(settings)) as client:
        missing = client.get("/v1/stats")
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "missing_api_key"
        wrong = client.get("/v1/stats", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "predictions" not in wrong.text
        ok = client.get("/v1/stats", headers={"Authorization": f"Bearer {KEY}"})
        assert ok.status_code == 200 and ok.json()["predictions"] == 0
    with TestClient(create_app(make_settings(artifacts))) as client:  # no key configured
        assert client.get("/v1/stats").status_code == 401
        with_key = client.get("/v1/stats", headers={"Authorization": f"Bearer {KEY}"})
        assert with_key.status_code == 403
        assert with_key.json()["error"]["code"] == "admin_disabled"


def test_stats_are_public_when_configured(artifacts, monkeypatch) -> None:
    monkeypatch.setenv("FLIPKART_STATS_PRIVATE", "false")
    monkeypatch.setenv("FLIPKART_ARTIFACTS_ROOT", str(artifacts))
    settings = Settings()
    assert settings.stats_private is False
    with TestClient(create_app(make_settings(artifacts, stats_private=False))) as client:
        response = client.get("/v1/stats")
        assert response.status_code == 200 and response.json()["predictions"] == 0
