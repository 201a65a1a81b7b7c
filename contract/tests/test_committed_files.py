"""Every committed card, metrics.json and the registry validate against the contract."""

from pathlib import Path

import pytest
from flipkart_contract import load_card, load_metrics, load_registry, sha256_file
from flipkart_contract.classes import class_names
from flipkart_contract.schema import load_listing_card, load_text_card, load_text_metrics

ROOT = Path(__file__).resolve().parents[2]
CARDS = sorted(ROOT.glob("artifacts/models/*/card.json"))
METRICS = sorted(p for p in ROOT.glob("runs/*/*/metrics.json") if p.parent.parent.name != "text")
TEXT_METRICS = sorted(ROOT.glob("runs/text/*/metrics.json"))
TEXT_CARDS = sorted(ROOT.glob("artifacts/text/*/card.json"))
LISTING_CARDS = sorted(ROOT.glob("artifacts/listing/*/card.json"))


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


@pytest.mark.parametrize("path", TEXT_METRICS, ids=lambda p: p.parent.name)
def test_text_metrics(path: Path):
    metrics = load_text_metrics(path)
    assert metrics.run_id == path.parent.name
    assert metrics.classes == class_names(ROOT / "data" / "splits.csv")


@pytest.mark.parametrize("path", TEXT_CARDS, ids=lambda p: p.parent.name)
def test_text_card(path: Path):
    card = load_text_card(path)
    assert card.run_id == path.parent.name
    model = path.parent / card.model.file
    if model.is_file():  # only the registered listing's text model is tracked
        assert sha256_file(model) == card.model.sha256


@pytest.mark.parametrize("path", LISTING_CARDS, ids=lambda p: p.parent.name)
def test_listing_card(path: Path):
    card = load_listing_card(path)
    assert card.listing_id == path.parent.name
    assert (ROOT / "artifacts" / "models" / card.image.run_id / "card.json").is_file()
    assert (ROOT / "artifacts" / "text" / card.text.run_id / "card.json").is_file()


def test_the_registered_listing_is_servable_from_a_checkout():
    registry = load_registry(ROOT / "artifacts" / "registry.json")
    if registry.listing is None:
        pytest.skip("no listing registered")
    card = load_listing_card(ROOT / "artifacts" / "listing" / registry.listing / "card.json")
    assert card.image.run_id == registry.production, "run `make listing` after `make promote`"
    image = load_card(ROOT / "artifacts" / "models" / card.image.run_id / "card.json")
    assert image.onnx.sha256 == card.image.sha256
    text = load_text_card(ROOT / "artifacts" / "text" / card.text.run_id / "card.json")
    model = ROOT / "artifacts" / "text" / card.text.run_id / text.model.file
    assert sha256_file(model) == text.model.sha256 == card.text.sha256


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
