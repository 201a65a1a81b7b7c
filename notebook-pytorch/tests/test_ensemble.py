"""Ensembles: two tiny runs' logits averaged in one graph, recorded as a run and exported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import TINY_MODEL, tiny_config, tiny_run_id
from flipkart_contract import load_card, load_metrics
from flipkart_torch import checkpoints
from flipkart_torch.ensemble import EnsembleModel, export_ensemble
from flipkart_torch.export import PixelsModel
from flipkart_torch.train import train


@pytest.fixture(scope="module")
def two_runs(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("ensemble")
    runs = []
    for seed in (0, 1):
        config = tiny_config(tiny_data, out, seed=seed, run_id=tiny_run_id(second=seed))
        runs.append(train(config)["checkpoint"])
    other = tiny_config(
        tiny_data, out, image_size=40, seed=2, run_id=tiny_run_id(second=2)
    )  # another resize policy
    return {"runs": runs, "other": train(other)["checkpoint"], "out": out, "data": tiny_data}


def run_export(two_runs: dict, runs: list[str], models_dir: Path) -> dict:
    return export_ensemble(
        runs,
        models_dir=models_dir,
        splits_csv=two_runs["data"] / "splits.csv",
        images_dir=two_runs["data"] / "images",
        runs_dir=two_runs["out"] / "runs",
    )


def test_the_ensemble_is_a_run_and_an_export(two_runs: dict, tmp_path: Path) -> None:
    card = run_export(two_runs, two_runs["runs"], tmp_path)
    run_id = card["run_id"]
    assert card["architecture"] == f"ensemble-{TINY_MODEL}-x2"
    metrics = load_metrics(two_runs["out"] / "runs" / run_id / "metrics.json")
    assert metrics.epochs_run == 0 and len(metrics.config["members"]) == 2
    assert metrics.final.test.num_images == 3 * len(metrics.classes)
    loaded = load_card(tmp_path / run_id / "card.json")
    assert loaded.metrics.test.accuracy == metrics.final.test.accuracy
    assert loaded.metrics.val is not None and "ensemble" in (loaded.notes or "")

    # The graph's logits are the mean of the members' (each with its own normalisation).
    members = []
    for path in two_runs["runs"]:
        model, best = checkpoints.load_model(checkpoints.resolve_best(path))
        members.append(PixelsModel(model, tuple(best["mean"]), tuple(best["std"])).eval())
    pixels = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    with torch.no_grad():
        each = [m(torch.from_numpy(pixels)).numpy() for m in members]
        combined = EnsembleModel(members)(torch.from_numpy(pixels)).numpy()
    assert np.allclose(combined, np.mean(each, axis=0), atol=1e-5)
    session = ort.InferenceSession(str(tmp_path / run_id / "model.onnx"))
    got = session.run(["logits"], {"pixels": pixels})[0]
    assert np.allclose(got, combined, atol=1e-3)


def test_members_must_share_the_input(two_runs: dict, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="resize policy"):
        run_export(two_runs, [two_runs["runs"][0], two_runs["other"]], tmp_path)
    with pytest.raises(ValueError, match="at least two"):
        run_export(two_runs, two_runs["runs"][:1], tmp_path)
    with pytest.raises(ValueError, match="twice"):
        run_export(two_runs, [two_runs["runs"][0]] * 2, tmp_path)
    assert not any(tmp_path.iterdir())  # nothing written for a refused ensemble
