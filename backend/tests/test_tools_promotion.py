"""`python -m flipkart_api.tools.promotion`: the rule, explicit choices, refusals with their
reason, and a registry written through the contract that the service then serves."""

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import make_settings
from fastapi.testclient import TestClient
from flipkart_api.app import create_app
from flipkart_api.tools import promotion
from flipkart_contract import load_registry, write_json_atomic
from flipkart_contract.testing import registry_dict
from helpers import write_model
from test_tools_leaderboard import edit_card, set_scores

ALPHA, BETA = "20261123-100000_alpha_finetune", "20261123-110000_beta_freeze"
GAMMA = "20261123-120000_gamma_finetune"  # its ONNX is git-ignored (absent), its card valid


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    set_scores(write_model(root, ALPHA, seed=1), 0.80, 0.79)
    set_scores(write_model(root, BETA, seed=2, framework="tensorflow"), 0.85, 0.84)
    gamma = write_model(root, GAMMA, seed=3)
    set_scores(gamma, 0.95, 0.95)  # the best card, but nothing to serve
    (gamma / "model.onnx").unlink()
    return root


def fixed_latency(**by_run_id):
    return lambda export: by_run_id[export.run_id]


def test_default_rule_writes_a_valid_registry_with_history(artifacts):
    when = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)
    registry = promotion.promote(
        artifacts, latency_of=fixed_latency(**{ALPHA: 2.0, BETA: 5.0}), by="tester", now=when
    )
    assert load_registry(artifacts / "registry.json") == registry
    on_disk = json.loads((artifacts / "registry.json").read_text())
    assert registry.production == BETA
    assert registry.models == [ALPHA, BETA]  # servable exports only: not GAMMA
    entry = on_disk["history"][-1]
    assert entry["at"] == "2026-11-23T12:00:00Z" and entry["by"] == "tester"
    assert "previous" not in entry  # none: dumped without nulls
    assert entry["decided_by"] == {
        "metric": "test_macro_f1", "value": 0.84, "test_accuracy": 0.85, "test_macro_f1": 0.84,
        "latency_ms_batch_1": 5.0,
    }  # fmt: skip
    assert registry.history[-1].rule == promotion.FALLBACK_RULE  # the fixtures' cards lack val
    assert entry["refused"] == {GAMMA: "model.onnx not present (git-ignored: re-export it from "
                                "its checkpoint)"}  # fmt: skip

    # Promote again explicitly: the history grows and remembers the previous model.
    registry = promotion.promote(artifacts, run_id=ALPHA, latency_of=fixed_latency(**{ALPHA: 2.0}))
    assert registry.production == ALPHA
    assert [h.run_id for h in registry.history] == [BETA, ALPHA]
    assert registry.history[-1].previous == BETA
    assert registry.history[-1].rule.startswith("explicit")


def test_an_existing_registry_keeps_its_history(artifacts):
    write_json_atomic(artifacts / "registry.json", registry_dict(ALPHA, [ALPHA]))
    first = promotion.promote(artifacts, latency_of=fixed_latency(**{ALPHA: 2.0, BETA: 5.0}))
    second = promotion.promote(artifacts, latency_of=fixed_latency(**{ALPHA: 2.0, BETA: 5.0}))
    assert first.history[-1].previous == ALPHA
    assert [h.previous for h in second.history] == [ALPHA, BETA]


def test_tie_on_macro_f1_goes_to_the_faster_model(artifacts):
    set_scores(artifacts / "models" / ALPHA, 0.80, 0.84)
    registry = promotion.promote(artifacts, latency_of=fixed_latency(**{ALPHA: 2.0, BETA: 5.0}))
    assert registry.production == ALPHA


def test_max_latency_trades_accuracy_for_speed(artifacts):
    latency = fixed_latency(**{ALPHA: 2.0, BETA: 5.0})
    registry = promotion.promote(artifacts, max_latency_ms=3.0, latency_of=latency)
    assert registry.production == ALPHA
    assert "at most 3 ms" in registry.history[-1].rule
    with pytest.raises(promotion.PromotionError, match="fastest"):
        promotion.promote(artifacts, max_latency_ms=1.0, latency_of=latency)


def test_an_absent_onnx_cannot_be_promoted(artifacts):
    with pytest.raises(promotion.PromotionError, match=f"refusing to promote {GAMMA}: model.onnx "
                       "not present"):  # fmt: skip
        promotion.promote(artifacts, run_id=GAMMA, latency_of=fixed_latency())
    assert not (artifacts / "registry.json").exists()


def test_sha256_mismatch_is_refused_and_skipped(artifacts):
    model = artifacts / "models" / BETA / "model.onnx"
    model.write_bytes(model.read_bytes() + b"tampered")
    with pytest.raises(promotion.PromotionError, match="sha256 does not match"):
        promotion.promote(artifacts, run_id=BETA, latency_of=fixed_latency(**{ALPHA: 1.0}))
    assert not (artifacts / "registry.json").exists()
    # The rule never picks it, even though its card claims the better macro-F1.
    registry = promotion.promote(artifacts, latency_of=fixed_latency(**{ALPHA: 1.0}))
    assert registry.production == ALPHA and registry.models == [ALPHA]
    assert "sha256" in registry.history[-1].refused[BETA]


def test_an_invalid_card_is_refused_with_the_reason(artifacts):
    edit_card(artifacts / "models" / ALPHA, metrics={"test": {"accuracy": 0.8}})
    with pytest.raises(promotion.PromotionError, match=r"invalid card.json: metrics.test.macro_f1"):
        promotion.promote(artifacts, run_id=ALPHA, latency_of=fixed_latency(**{BETA: 1.0}))
    registry = promotion.promote(artifacts, latency_of=fixed_latency(**{BETA: 1.0}))
    assert registry.models == [BETA]
    assert registry.history[-1].refused[ALPHA].startswith("invalid card.json: ")


def test_unknown_run_id_and_empty_artifacts(artifacts, tmp_path):
    with pytest.raises(promotion.PromotionError, match=f"Promotable: {ALPHA}, {BETA}"):
        promotion.promote(artifacts, run_id="nope", latency_of=fixed_latency())
    with pytest.raises(promotion.PromotionError, match="no promotable model"):
        promotion.promote(tmp_path / "empty", latency_of=fixed_latency())


def test_an_invalid_registry_is_not_overwritten(artifacts):
    (artifacts / "registry.json").write_text('{"production": "not a run id"}')
    with pytest.raises(promotion.PromotionError, match="not a valid registry"):
        promotion.promote(artifacts, latency_of=fixed_latency(**{ALPHA: 1.0, BETA: 1.0}))
    assert (artifacts / "registry.json").read_text() == '{"production": "not a run id"}'


def test_cli_promotes_with_measured_latency(artifacts, capsys):
    assert promotion.main(["--artifacts", str(artifacts), "--by", "cli", "--reason", "why"]) == 0
    out = capsys.readouterr().out
    assert f"production: {BETA} (was None)" in out and f"skipped {GAMMA}: " in out
    entry = load_registry(artifacts / "registry.json").history[-1]
    assert entry.decided_by.latency_ms_batch_1 > 0  # timed by the leaderboard's helper
    assert (entry.by, entry.reason) == ("cli", "why")


def test_cli_reports_refusal_with_exit_code(artifacts, capsys):
    assert promotion.main(["--artifacts", str(artifacts), "--run-id", GAMMA]) == 2
    err = capsys.readouterr().err
    assert err.startswith("promotion refused: ") and "not present" in err


def test_registry_write_is_atomic(artifacts, monkeypatch):
    """A crash while writing leaves the previous registry intact and valid."""
    first = promotion.promote(artifacts, latency_of=fixed_latency(**{ALPHA: 2.0, BETA: 5.0}))
    before = (artifacts / "registry.json").read_bytes()

    def crash(src, dst):
        raise OSError("power cut during rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        promotion.promote(artifacts, run_id=ALPHA, latency_of=fixed_latency(**{ALPHA: 2.0}))
    assert (artifacts / "registry.json").read_bytes() == before
    assert load_registry(artifacts / "registry.json").production == first.production
    assert not [p for p in artifacts.iterdir() if p.name.startswith(".registry.json.")]


def test_the_service_serves_what_promotion_wrote(artifacts):
    promotion.promote(artifacts, latency_of=fixed_latency(**{ALPHA: 2.0, BETA: 5.0}))
    with TestClient(create_app(make_settings(artifacts))) as client:
        assert client.get("/ready").json()["model"] == BETA


def robustness_figures(drop: float) -> dict:
    clean, worst = 0.8, 0.8 - drop
    return {
        "suite": "flipkart_contract.robustness/1",
        "split": "test",
        "seed": 0,
        "conditions": {
            "clean": {"accuracy": clean, "macro_f1": clean, "num_images": 7},
            "greyscale": {"accuracy": worst, "macro_f1": worst, "num_images": 7},
        },
        "worst_condition": "greyscale",
        "worst_drop": drop,
    }


def test_robustness_floor_keeps_only_models_that_hold_up(artifacts):
    latency = fixed_latency(**{ALPHA: 2.0, BETA: 5.0})
    edit_card(artifacts / "models" / ALPHA, robustness=robustness_figures(0.05))
    edit_card(artifacts / "models" / BETA, robustness=robustness_figures(0.20))
    # Without a floor BETA wins on macro-F1; with one, the model that holds up does.
    assert promotion.promote(artifacts, latency_of=latency).production == BETA
    registry = promotion.promote(artifacts, max_robustness_drop=0.08, latency_of=latency)
    assert registry.production == ALPHA
    assert "robustness drop is at most 0.08" in registry.history[-1].rule
    with pytest.raises(promotion.PromotionError, match="max-robustness-drop"):
        promotion.promote(artifacts, max_robustness_drop=0.01, latency_of=latency)


def test_models_without_robustness_figures_do_not_pass_a_floor(artifacts):
    with pytest.raises(promotion.PromotionError, match="make robustness"):
        promotion.promote(
            artifacts,
            max_robustness_drop=0.5,
            latency_of=fixed_latency(**{ALPHA: 2.0, BETA: 5.0}),
        )


def test_validation_decides_when_every_card_has_it(artifacts):
    """BETA is better on test, ALPHA on validation: the rule follows validation."""
    for run_id, val_f1 in ((ALPHA, 0.90), (BETA, 0.70)):
        val = {"accuracy": val_f1, "macro_f1": val_f1}
        edit_card(artifacts / "models" / run_id, metrics__val=val)
    registry = promotion.promote(artifacts, latency_of=fixed_latency(**{ALPHA: 2.0, BETA: 5.0}))
    assert registry.production == ALPHA
    entry = registry.history[-1]
    assert entry.rule == promotion.DEFAULT_RULE
    assert entry.decided_by.metric == "val_macro_f1" and entry.decided_by.value == 0.90


def test_dry_run_writes_nothing(artifacts, capsys):
    registry = promotion.promote(
        artifacts, dry_run=True, latency_of=fixed_latency(**{ALPHA: 2.0, BETA: 5.0})
    )
    assert registry.production == BETA
    assert not (artifacts / "registry.json").exists()
    assert promotion.main(["--artifacts", str(artifacts), "--dry-run", "--run-id", ALPHA]) == 0
    assert "would promote (dry run" in capsys.readouterr().out
    assert not (artifacts / "registry.json").exists()
