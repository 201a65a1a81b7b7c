"""The model catalog: what makes the service ready or not, card validation, the atomic swap."""

import asyncio
import base64
import json

import httpx
import onnx
import pytest
from conftest import OTHER, PROD, make_settings
from fastapi.testclient import TestClient
from flipkart_api.app import create_app
from flipkart_api.settings import Settings, default_artifacts_root
from flipkart_contract import sha256_bytes
from flipkart_contract.testing import image_bytes
from helpers import write_model, write_registry

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


def test_registry_failing_the_contract_starts_not_ready(tmp_path) -> None:
    registry = {"schema_version": 1, "production": "latest", "models": ["latest"]}
    (tmp_path / "registry.json").write_text(json.dumps(registry), encoding="utf-8")
    reason = not_ready_reason(tmp_path)
    assert "registry" in reason and "latest" in reason


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
    card["onnx"]["sha256"] = sha256_bytes(b"not a protobuf")
    card["onnx"]["bytes"] = len(b"not a protobuf")
    (folder / "card.json").write_text(json.dumps(card))
    assert "ONNX Runtime cannot load" in not_ready_reason(artifacts)


def edit_card(artifacts, run_id: str, change) -> None:
    path = artifacts / "models" / run_id / "card.json"
    card = json.loads(path.read_text())
    change(card)
    path.write_text(json.dumps(card))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c.pop("classes"), "classes"),
        (lambda c: c["resize_policy"].update(method="stretch"), "resize_policy.method"),
        (lambda c: c["resize_policy"].update(size=48), "resize policy gives 48x48"),
        (lambda c: c.update(training_mode="half"), "training_mode"),
        (lambda c: c.update(classes=list(reversed(c["classes"]))), "sorted order"),
        (lambda c: c.update(run_id="20200101-000000_someone_else_freeze"), "not " + PROD),
    ],
)
def test_a_card_failing_the_contract_means_not_loaded_with_the_reason(
    artifacts, change, expected
) -> None:
    edit_card(artifacts, PROD, change)
    reason = not_ready_reason(artifacts)
    assert PROD in reason and "card" in reason and expected in reason


def version_1(card: dict) -> dict:
    """A version-2 card written the way exports wrote it before the contract (schema 1)."""
    old = {k: v for k, v in card.items() if k not in ("architecture", "training_mode")}
    policy = dict(old.pop("resize_policy"))
    policy["mode"] = policy.pop("method")
    old.update(schema_version=1, name=card["architecture"], mode=card["training_mode"])
    old["preprocessing"] = policy
    return old


def test_a_version_1_card_still_serves_and_is_shown_as_version_2(artifacts) -> None:
    path = artifacts / "models" / OTHER / "card.json"
    current = json.loads(path.read_text())
    path.write_text(json.dumps(version_1(current)))
    with TestClient(create_app(make_settings(artifacts))) as client:
        item = client.get(f"/v1/models/{OTHER}").json()
        preview = client.post(f"/v1/preprocess?model={OTHER}", json=IMAGE)
    assert item["architecture"] == "other_net" and item["training_mode"] == "freeze"
    assert item["card"] == current
    assert preview.status_code == 200


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


def test_ambiguous_architecture_is_422(artifacts) -> None:
    twin = "20261124-000000_tiny_net_freeze"
    write_model(artifacts, twin)
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
    # 120 requests from one client: the rate limit is lifted.
    app = create_app(make_settings(artifacts, batch_max_wait_ms=5.0, rate_limit_per_minute=0))
    catalog = app.state.catalog
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
            write_model(artifacts, new_prod, seed=3)
            write_registry(artifacts, new_prod, [new_prod, PROD])
            await catalog.reload()

        results = await asyncio.gather(*(hammer(15) for _ in range(8)), swap())
        statuses = [s for r in results[:-1] for s in r]
        assert statuses == [200] * 120
        assert set(served) == {PROD, new_prod}  # the swap happened mid-traffic
        after = await client.post("/v1/predict", json=IMAGE)
        assert after.json()["model"]["run_id"] == new_prod
        assert (await client.get("/ready")).json() == {"status": "ready", "model": new_prod}


def test_a_quantised_model_is_served_by_name_and_answers_as_its_fp32_graph(artifacts) -> None:
    quantised, full = "20261124-000000_quant_net_finetune", "20261124-000100_float_net_finetune"
    write_model(artifacts, quantised, precision="int8")
    write_model(artifacts, full)  # the same classifier (seed 0) in fp32
    write_registry(artifacts, PROD, [PROD, OTHER, quantised, full])
    graph = onnx.load(str(artifacts / "models" / quantised / "model.onnx")).graph
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= {n.op_type for n in graph.node}
    with TestClient(create_app(make_settings(artifacts))) as client:
        models = {m["run_id"]: m for m in client.get("/v1/models").json()["models"]}
        answers = {
            name: client.post(f"/v1/predict?model={name}&top_k=7", json=IMAGE)
            for name in (quantised, "quant_net", full)
        }
    assert models[quantised]["precision"] == "int8" and models[full]["precision"] == "fp32"
    assert models[quantised]["card"]["precision_check"]["top1_agreement"] == 1.0
    assert models[PROD]["precision"] == "fp32"  # cards without the field are fp32
    for response in answers.values():
        assert response.status_code == 200, response.text
    by_id, by_architecture, reference = (r.json() for r in answers.values())
    assert by_id["model"]["run_id"] == by_architecture["model"]["run_id"] == quantised
    assert by_id["label"] == reference["label"]

    def probabilities(answer: dict) -> dict[str, float]:
        return {p["label"]: p["probability"] for p in answer["probabilities"]}

    expected = probabilities(reference)
    for label, p in probabilities(by_id).items():
        assert p == pytest.approx(expected[label], abs=0.02)
