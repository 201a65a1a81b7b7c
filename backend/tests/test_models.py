"""Loading the registry: what makes the service ready or not, and the atomic model swap."""

import asyncio
import base64
import json

import httpx
import pytest
from conftest import OTHER, PROD, make_settings
from fastapi.testclient import TestClient
from flipkart_api.app import create_app
from flipkart_api.settings import Settings, default_artifacts_root
from helpers import image_bytes, write_model, write_registry

IMAGE = {"image": base64.b64encode(image_bytes()).decode()}


def not_ready_reason(root) -> str:
    with TestClient(create_app(make_settings(root))) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert client.get("/health").json() == {"status": "ok"}
        predict = client.post("/v1/predict", json=IMAGE)
        assert predict.status_code == 503
        assert predict.json()["error"]["code"] == "model_not_ready"
        body = ready.json()
        assert body["status"] == "not_ready"
        assert body["reason"] in predict.json()["error"]["message"]
        return body["reason"]


def test_no_registry_starts_not_ready(tmp_path) -> None:
    assert "no registry" in not_ready_reason(tmp_path)


def test_unreadable_registry_starts_not_ready(tmp_path) -> None:
    (tmp_path / "registry.json").write_text("{oops", encoding="utf-8")
    assert "not valid JSON" in not_ready_reason(tmp_path)


def test_sha256_mismatch_starts_not_ready(artifacts) -> None:
    model = artifacts / "models" / PROD / "model.onnx"
    model.write_bytes(model.read_bytes() + b"tampered")
    reason = not_ready_reason(artifacts)
    assert "sha256 mismatch" in reason and PROD in reason


def test_missing_model_file_starts_not_ready(artifacts) -> None:
    (artifacts / "models" / PROD / "model.onnx").unlink()
    assert "model file missing" in not_ready_reason(artifacts)


def test_missing_card_starts_not_ready(artifacts) -> None:
    (artifacts / "models" / PROD / "card.json").unlink()
    assert "model card not found" in not_ready_reason(artifacts)


def test_corrupt_onnx_with_matching_sha_starts_not_ready(artifacts) -> None:
    folder = artifacts / "models" / PROD
    (folder / "model.onnx").write_bytes(b"not a protobuf")
    card = json.loads((folder / "card.json").read_text())
    import hashlib

    card["onnx"]["sha256"] = hashlib.sha256(b"not a protobuf").hexdigest()
    (folder / "card.json").write_text(json.dumps(card))
    assert "ONNX Runtime cannot load" in not_ready_reason(artifacts)


def test_registry_without_production_starts_not_ready(artifacts) -> None:
    write_registry(artifacts, None, [PROD])
    assert "names no production model" in not_ready_reason(artifacts)


def test_a_broken_secondary_model_does_not_block_production(artifacts) -> None:
    (artifacts / "models" / OTHER / "model.onnx").write_bytes(b"broken")
    with TestClient(create_app(make_settings(artifacts))) as client:
        assert client.get("/ready").status_code == 200
        models = client.get("/v1/models").json()["models"]
        assert [m["run_id"] for m in models] == [PROD]
        response = client.post(f"/v1/predict?model={OTHER}", json=IMAGE)
        assert response.status_code == 404


def test_ambiguous_card_name_is_422(artifacts) -> None:
    twin = "20261124-000000_tiny_net_freeze"
    write_model(artifacts, twin, name="tiny_net")
    write_registry(artifacts, PROD, [PROD, OTHER, twin])
    with TestClient(create_app(make_settings(artifacts))) as client:
        response = client.post("/v1/predict?model=tiny_net", json=IMAGE)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "ambiguous_model"
    assert twin in response.json()["error"]["message"]


def test_settings_from_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("FLIPKART_ARTIFACTS_ROOT", str(tmp_path))
    monkeypatch.setenv("FLIPKART_BATCH_MAX_SIZE", "12")
    monkeypatch.setenv("FLIPKART_CORS_ORIGINS", '["http://a.example"]')
    settings = Settings()
    assert settings.port == 9123 and settings.artifacts_root == tmp_path
    assert settings.batch_max_size == 12 and settings.cors_origins == ["http://a.example"]


def test_default_artifacts_root_is_the_repositorys() -> None:
    root = default_artifacts_root()
    assert root.name == "artifacts" and (root / "README.md").is_file()


@pytest.mark.anyio
async def test_reload_swaps_atomically_without_dropping_requests(artifacts) -> None:
    new_prod = "20261124-120000_new_net_finetune"
    app = create_app(make_settings(artifacts, batch_max_wait_ms=5.0))
    store = app.state.service.store
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        served: list[str] = []

        async def hammer(n: int) -> list[int]:
            statuses = []
            for _ in range(n):
                response = await client.post("/v1/predict", json=IMAGE)
                statuses.append(response.status_code)
                served.append(response.json()["model"]["run_id"])
            return statuses

        async def swap() -> None:
            await asyncio.sleep(0.05)
            write_model(artifacts, new_prod, name="new_net", seed=3)
            write_registry(artifacts, new_prod, [new_prod, PROD])
            await store.reload()

        results = await asyncio.gather(*(hammer(15) for _ in range(8)), swap())
        statuses = [s for r in results[:-1] for s in r]
        assert statuses == [200] * 120
        assert set(served) == {PROD, new_prod}  # the swap happened mid-traffic
        after = await client.post("/v1/predict", json=IMAGE)
        assert after.json()["model"]["run_id"] == new_prod
        assert (await client.get("/ready")).json() == {"status": "ready", "model": new_prod}
