"""Every committed card, metrics.json and the registry validate against the contract."""

from pathlib import Path

import pytest
from flipkart_contract import load_card, load_metrics, load_registry, sha256_file
from flipkart_contract.classes import class_names

ROOT = Path(__file__).resolve().parents[2]
CARDS = sorted(ROOT.glob("artifacts/models/*/card.json"))
METRICS = sorted(ROOT.glob("runs/*/*/metrics.json"))


def test_there_are_committed_files():
    assert CARDS and METRICS and (ROOT / "artifacts" / "registry.json").is_file()


@pytest.mark.parametrize("path", CARDS, ids=lambda p: p.parent.name)
def test_card(path: Path):
    card = load_card(path)
    assert card.schema_version == 2, "committed cards are written in the current schema"
    assert card.run_id == path.parent.name
    assert card.classes == class_names(ROOT / "data" / "splits.csv")
    onnx = path.parent / card.onnx.file
    if onnx.is_file():  # only the production ONNX is tracked; others may be absent
        assert sha256_file(onnx) == card.onnx.sha256


@pytest.mark.parametrize("path", METRICS, ids=lambda p: p.parent.name)
def test_metrics(path: Path):
    metrics = load_metrics(path)
    assert metrics.schema_version == 2
    assert metrics.run_id == path.parent.name
    assert metrics.framework == path.parent.parent.name


def test_registry_names_servable_models():
    """Production's ONNX is tracked; another registered model's may be git-ignored (over the
    size budget, rebuilt by its lab's export): absent in a fresh checkout, exact when present."""
    registry = load_registry(ROOT / "artifacts" / "registry.json")
    assert registry.production in registry.models
    for run_id in registry.models:
        folder = ROOT / "artifacts" / "models" / run_id
        card = load_card(folder / "card.json")
        onnx = folder / card.onnx.file
        if run_id == registry.production or onnx.is_file():
            assert sha256_file(onnx) == card.onnx.sha256
