"""Typed files: valid examples pass, each broken invariant is refused, version 1 migrates."""

import copy
import json
from pathlib import Path

import pytest
from flipkart_contract import ModelCard, Registry, RunMetrics, load_card, load_metrics
from flipkart_contract.schema import LeaderboardRow, migrate_card, migrate_metrics
from flipkart_contract.schema_files import main as schemas_main
from flipkart_contract.testing import FLIPKART_CLASSES, card_dict, metrics_dict, registry_dict
from pydantic import ValidationError

ONNX = b"fake onnx bytes"


def test_fixture_builders_are_valid():
    ModelCard.model_validate(card_dict(ONNX))
    RunMetrics.model_validate(metrics_dict())
    Registry.model_validate(registry_dict("20261123-101500_tiny_finetune", []))


@pytest.mark.parametrize(
    "breakage",
    [
        lambda c: c.pop("architecture"),
        lambda c: c.update(training_mode="partial"),
        lambda c: c.update(framework="jax"),
        lambda c: c.update(run_id="yesterday_tiny"),
        lambda c: c.update(classes=list(reversed(FLIPKART_CLASSES))),
        lambda c: c.update(classes=["Watches"]),
        lambda c: c["onnx"].update(sha256="abc"),
        lambda c: c["metrics"]["test"].update(accuracy=1.2),
        lambda c: c["metrics"]["test"]["confusion_matrix"].pop(),
        lambda c: c["metrics"]["test"]["per_class"].pop("Watches"),
        lambda c: c["input"].update(height=33),
        lambda c: c["resize_policy"].update(method="stretch"),
        lambda c: c.update(unknown_field=1),
    ],
)
def test_broken_cards_are_refused(breakage):
    card = card_dict(ONNX)
    breakage(card)
    with pytest.raises(ValidationError):
        ModelCard.model_validate(card)


def _precision_check(**changes):
    check = {
        "method": "onnxruntime quantize_dynamic QInt8",
        "num_images": 154,
        "top1_agreement": 0.9935,
        "accuracy": 0.46,
        "fp32_accuracy": 0.4643,
        "max_abs_logit_diff": 0.2,
        "fp32_bytes": 125_000_000,
    }
    return {**check, **changes}


def test_cards_without_precision_are_fp32():
    card = card_dict(ONNX)
    card.pop("precision"), card.pop("precision_check")
    loaded = ModelCard.model_validate(card)
    assert loaded.precision == "fp32"
    assert loaded.precision_check is None


def test_a_reduced_precision_card_carries_a_passing_check():
    card = ModelCard.model_validate(
        card_dict(ONNX, precision="int8", precision_check=_precision_check())
    )
    assert card.precision == "int8"
    assert card.precision_check.passed
    # exactly at the limits passes: 99 % agreement, half a point of accuracy lost
    at_limits = _precision_check(top1_agreement=0.99, accuracy=0.4593)
    ModelCard.model_validate(card_dict(ONNX, precision="fp16", precision_check=at_limits))


@pytest.mark.parametrize(
    ("precision", "check", "message"),
    [
        ("int8", None, "needs its precision_check"),
        ("int8", _precision_check(top1_agreement=0.985), "acceptance rule"),
        ("fp16", _precision_check(accuracy=0.4580), "acceptance rule"),  # 0.63 point lost
        ("fp32", _precision_check(), "no precision_check"),
        ("bf16", None, "precision"),
    ],
)
def test_reduced_precision_cards_failing_the_rule_are_refused(precision, check, message):
    with pytest.raises(ValidationError, match=message):
        ModelCard.model_validate(card_dict(ONNX, precision=precision, precision_check=check))


def test_broken_metrics_are_refused():
    metrics = metrics_dict()
    metrics["final"]["test"]["confusion_matrix"] = [[1]]
    with pytest.raises(ValidationError):
        RunMetrics.model_validate(metrics)
    with pytest.raises(ValidationError):
        RunMetrics.model_validate({**metrics_dict(), "wall_time_s": -1})


def test_registry_refuses_non_run_ids_and_duplicates():
    with pytest.raises(ValidationError):
        Registry.model_validate(registry_dict("best", []))
    run = "20261123-101500_tiny_finetune"
    with pytest.raises(ValidationError):
        Registry.model_validate(registry_dict(run, [run, run]))


def v1_card() -> dict:
    card = card_dict(ONNX)
    old = copy.deepcopy(card)
    old["schema_version"] = 1
    old["name"] = old.pop("architecture")
    old["mode"] = old.pop("training_mode")
    policy = old.pop("resize_policy")
    policy["mode"] = policy.pop("method")
    old["preprocessing"] = policy
    return old


def test_version_1_card_migrates(tmp_path: Path):
    old = v1_card()
    migrated = ModelCard.model_validate(migrate_card(old))
    assert migrated == ModelCard.model_validate(card_dict(ONNX))
    assert old["schema_version"] == 1  # the input is not modified
    path = tmp_path / "card.json"
    path.write_text(json.dumps(old))
    assert load_card(path).architecture == "tiny"


def test_version_1_metrics_migrate(tmp_path: Path):
    old = metrics_dict()
    old["schema_version"] = 1
    old["model"] = old.pop("architecture")
    old["mode"] = old.pop("training_mode")
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(old))
    assert load_metrics(path).training_mode == "finetune"
    assert migrate_metrics(metrics_dict()) == metrics_dict()


def test_unknown_versions_are_refused():
    with pytest.raises(ValueError, match="schema_version"):
        migrate_card({**card_dict(ONNX), "schema_version": 7})
    with pytest.raises(ValueError, match="schema_version"):
        migrate_metrics({**metrics_dict(), "schema_version": 0})


def test_load_card_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        load_card(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_card(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(ValueError, match="not a JSON object"):
        load_card(tmp_path / "list.json")


def test_leaderboard_row_columns_start_with_rank_and_run_id():
    assert list(LeaderboardRow.model_fields)[:3] == ["rank", "run_id", "architecture"]


def test_committed_schemas_are_current(capsys):
    assert schemas_main(["--check"]) == 0, capsys.readouterr().out
