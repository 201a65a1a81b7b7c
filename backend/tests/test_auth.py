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
        response = client.get("/v1/stats")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "admin_disabled"


def test_stats_are_public_when_configured(artifacts, monkeypatch) -> None:
    monkeypatch.setenv("FLIPKART_STATS_PRIVATE", "false")
    monkeypatch.setenv("FLIPKART_ARTIFACTS_ROOT", str(artifacts))
    settings = Settings()
    assert settings.stats_private is False
    with TestClient(create_app(make_settings(artifacts, stats_private=False))) as client:
        response = client.get("/v1/stats")
        assert response.status_code == 200 and response.json()["predictions"] == 0
