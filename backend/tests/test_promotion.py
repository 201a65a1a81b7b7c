"""Leaderboard and promotion on fixtures of tiny ONNX models with cards."""

import csv
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flipkart_api import leaderboard, promotion
from helpers import write_model


def set_card(folder: Path, **test_metrics) -> None:
    card = json.loads((folder / "card.json").read_text())
    card["metrics"]["test"].update(test_metrics)
    (folder / "card.json").write_text(json.dumps(card))


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    a = write_model(root, "20261123-100000_alpha_finetune", name="alpha", seed=1)
    b = write_model(
        root, "20261123-110000_beta_freeze", name="beta", seed=2, framework="tensorflow"
    )
    set_card(a, accuracy=0.80, macro_f1=0.79)
    set_card(b, accuracy=0.85, macro_f1=0.84)
    return root


def fixed_latency(**by_run_id):
    return lambda candidate: by_run_id[candidate.run_id]


ALPHA, BETA = "20261123-100000_alpha_finetune", "20261123-110000_beta_freeze"


def test_leaderboard_ranks_measures_and_writes(artifacts, tmp_path):
    runs = tmp_path / "runs"
    run_dir = runs / "pytorch" / ALPHA
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text(
        json.dumps(
            {
                "run_id": ALPHA,
                "wall_time_s": 120.0,
                "hardware": {"device_name": "cpu-x", "num_threads": 2},
            }
        )
    )
    orphan = runs / "pytorch" / "20261123-090000_gamma_finetune"
    orphan.mkdir(parents=True)
    (orphan / "metrics.json").write_text(
        json.dumps({"run_id": orphan.name, "model": "gamma", "final": {"test": {"macro_f1": 0.9}}})
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{leaderboard.README_START}\nold\n{leaderboard.README_END}\ntail\n")

    code = leaderboard.main(
        ["--artifacts", str(artifacts), "--runs", str(runs), "--data", str(tmp_path / "nodata"),
         "--readme", str(readme), "--repeats", "3"]
    )  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader((artifacts / "leaderboard.csv").open()))
    assert [r["run_id"] for r in rows] == [BETA, ALPHA, orphan.name]
    assert [r["rank"] for r in rows] == ["1", "2", ""]
    assert rows[2]["status"] == "not exported" and rows[2]["latency_ms_batch_1"] == ""
    for row in rows[:2]:
        assert float(row["latency_ms_batch_1"]) > 0
        assert float(row["latency_ms_batch_16_per_image"]) > 0
        assert (
            int(row["onnx_bytes"])
            == (artifacts / "models" / row["run_id"] / "model.onnx").stat().st_size
        )
    assert rows[1]["training_hardware"] == "cpu-x (2 threads)"
    text = readme.read_text()
    assert "old" not in text and "alpha" in text and text.endswith("tail\n")
    assert (artifacts / "leaderboard.md").read_text() in text


def test_ties_are_broken_by_latency():
    def row(run_id, f1, latency):
        return leaderboard.Row(
            None, run_id, run_id, "pytorch", "finetune", "none", 0.8, f1, latency, None, None,
            None, "", None, 224, "exported",
        )  # fmt: skip

    ranked = leaderboard.assign_ranks(
        [row("slow", 0.81234, 9.0), row("fast", 0.81231, 3.0), row("best", 0.9, 50.0)]
    )
    assert [r.run_id for r in ranked] == ["best", "fast", "slow"]
    assert [r.rank for r in ranked] == [1, 2, 3]


def test_promote_default_rule_writes_registry_with_history(artifacts):
    when = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    registry = promotion.promote(
        artifacts, latency_of=fixed_latency(**{ALPHA: 2.0, BETA: 5.0}), by="tester", now=when
    )
    on_disk = json.loads((artifacts / "registry.json").read_text())
    assert on_disk == registry
    assert registry["production"] == BETA
    assert registry["models"] == [ALPHA, BETA]
    entry = registry["history"][-1]
    assert entry["at"] == "2026-11-23T12:00:00Z" and entry["by"] == "tester"
    assert entry["previous"] is None
    assert entry["decided_by"] == {
        "metric": "test_macro_f1", "value": 0.84, "test_accuracy": 0.85, "latency_ms_batch_1": 5.0,
    }  # fmt: skip

    # Promote again explicitly: the history grows and remembers the previous model.
    registry = promotion.promote(artifacts, run_id=ALPHA, latency_of=fixed_latency(**{ALPHA: 2.0}))
    assert registry["production"] == ALPHA
    assert [h["run_id"] for h in registry["history"]] == [BETA, ALPHA]
    assert registry["history"][-1]["previous"] == BETA
    assert registry["history"][-1]["rule"].startswith("explicit")


def test_tie_on_macro_f1_goes_to_the_faster_model(artifacts):
    set_card(artifacts / "models" / ALPHA, macro_f1=0.84)
    registry = promotion.promote(artifacts, latency_of=fixed_latency(**{ALPHA: 2.0, BETA: 5.0}))
    assert registry["production"] == ALPHA


def test_max_latency_trades_accuracy_for_speed(artifacts):
    latency = fixed_latency(**{ALPHA: 2.0, BETA: 5.0})
    registry = promotion.promote(artifacts, max_latency_ms=3.0, latency_of=latency)
    assert registry["production"] == ALPHA
    assert "at most 3 ms" in registry["history"][-1]["rule"]
    with pytest.raises(promotion.PromotionError, match="fastest"):
        promotion.promote(artifacts, max_latency_ms=1.0, latency_of=latency)


def test_sha256_mismatch_is_refused_and_skipped(artifacts):
    model = artifacts / "models" / BETA / "model.onnx"
    model.write_bytes(model.read_bytes() + b"tampered")
    with pytest.raises(promotion.PromotionError, match="sha256 does not match"):
        promotion.promote(artifacts, run_id=BETA, latency_of=fixed_latency(**{ALPHA: 1.0}))
    assert not (artifacts / "registry.json").exists()
    # The rule never picks it, even though its card claims the best macro-F1.
    registry = promotion.promote(artifacts, latency_of=fixed_latency(**{ALPHA: 1.0}))
    assert registry["production"] == ALPHA and registry["models"] == [ALPHA]
    assert "sha256" in registry["history"][-1]["refused"][BETA]


def test_card_without_test_metrics_is_refused(artifacts):
    card_path = artifacts / "models" / ALPHA / "card.json"
    card = json.loads(card_path.read_text())
    del card["metrics"]
    card_path.write_text(json.dumps(card))
    with pytest.raises(promotion.PromotionError, match="lacks test metrics"):
        promotion.promote(artifacts, run_id=ALPHA, latency_of=fixed_latency(**{BETA: 1.0}))


def test_unknown_run_id_and_empty_artifacts(artifacts, tmp_path):
    with pytest.raises(promotion.PromotionError, match="Promotable: "):
        promotion.promote(artifacts, run_id="nope", latency_of=fixed_latency())
    with pytest.raises(promotion.PromotionError, match="no promotable model"):
        promotion.promote(tmp_path / "empty", latency_of=fixed_latency())


def test_cli_reports_refusal_with_exit_code(artifacts, capsys):
    assert promotion.main(["--artifacts", str(artifacts), "--run-id", "nope"]) == 2
    assert "promotion refused" in capsys.readouterr().err


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
    assert json.loads(before)["production"] == first["production"]
    assert not [p for p in artifacts.iterdir() if p.name.startswith(".registry.json.")]


def test_the_served_registry_loads_a_promoted_model(artifacts):
    """What promotion writes is what the service reads: the winner becomes production."""
    from flipkart_api.models import load_model_set
    from flipkart_api.settings import Settings

    promotion.promote(artifacts, latency_of=fixed_latency(**{ALPHA: 2.0, BETA: 5.0}))
    model_set = load_model_set(Settings(artifacts_root=artifacts))
    assert model_set.ready
    assert model_set.resolve(None).run_id == BETA
