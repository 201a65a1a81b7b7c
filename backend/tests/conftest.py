from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from flipkart_api.app import create_app
from flipkart_api.settings import Settings
from helpers import write_model, write_registry

PROD = "20261123-101500_tiny_net_finetune"
OTHER = "20261123-111500_other_net_freeze"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    write_model(root, PROD, method="pad")
    write_model(root, OTHER, method="crop", seed=1, framework="tensorflow")
    write_registry(root, PROD, [PROD, OTHER])
    return root


def make_settings(root: Path, **overrides) -> Settings:
    values = {"artifacts_root": root, "batch_max_wait_ms": 1.0, "json_logs": False} | overrides
    return Settings(**values)


@pytest.fixture
def settings(artifacts: Path) -> Settings:
    return make_settings(artifacts)


@pytest.fixture
def client(settings: Settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client
