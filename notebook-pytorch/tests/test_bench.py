"""`flipkart-torch bench` writes every figure for every PyTorch model (tiny model, 1-2 repeats;
no timing is asserted, only that each figure was measured)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import CLASSES, TINY_MODEL
from flipkart_torch.bench import run_bench
from flipkart_torch.cli import run
from flipkart_torch.export import PixelsModel, export_onnx, sha256
from flipkart_torch.models.factory import create_model
from flipkart_torch.run_log import write_json
from flipkart_torch.train import model_norm

SIZE = 32


def write_model(models_dir: Path, run_id: str, mode: str, framework: str = "pytorch") -> None:
    folder = models_dir / run_id
    folder.mkdir(parents=True)
    model = create_model(TINY_MODEL, num_classes=len(CLASSES))
    export_onnx(PixelsModel(model, *model_norm(model)), SIZE, folder / "model.onnx")
    card = {
        "name": TINY_MODEL,
        "framework": framework,
        "run_id": run_id,
        "mode": mode,
        "classes": CLASSES,
        "input": {"name": "pixels", "height": SIZE, "width": SIZE},
        "onnx": {"file": "model.onnx", "sha256": sha256(folder / "model.onnx")},
    }
    write_json(folder / "card.json", card)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_model(root, f"20260101-000000_{TINY_MODEL}_finetune", "finetune")
    write_model(root, f"20260101-000001_{TINY_MODEL}_freeze", "freeze")
    write_model(root, "20260101-000002_keras_model_finetune", "finetune", framework="tensorflow")
    return root


def positive(value: object) -> bool:
    return isinstance(value, (int, float)) and value > 0


def check_model(entry: dict) -> None:
    assert entry["name"] == TINY_MODEL and entry["image_size"] == SIZE
    assert positive(entry["train"]["images_per_s"]) and positive(entry["parameters"])
    for stat in ("median", "p90"):
        assert positive(entry["train"]["step_ms"][stat])
    for batch in ("batch_1", "batch_16"):
        timings = entry["inference_ms"][batch]
        for engine in ("eager", "onnxruntime"):
            assert all(positive(timings[engine][k]) for k in ("median", "p90", "median_per_image"))
        assert all(positive(timings["ort_over_eager"][k]) for k in ("median", "p90"))


def test_cli_bench_measures_every_pytorch_model(models_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "pytorch.json"
    args = ["bench", "--models-dir", str(models_dir), "--output", str(output), "--skip-scan"]
    quick = ["--repeats", "2", "--train-steps", "1", "--batch-size", "2", "--threads", "1"]
    assert run([*args, *quick]) == 0
    result = json.loads(output.read_text())
    assert result["framework"] == "pytorch" and result["selective_scan"] is None
    assert [m["mode"] for m in result["models"]] == ["finetune", "freeze"]  # not the Keras model
    for entry in result["models"]:
        check_model(entry)
    machine = result["machine"]
    assert machine["threads"] == 1 and machine["torch"] == torch.__version__
    assert machine["onnxruntime"] and machine["cpu"] and positive(machine["logical_cpus"])
    assert result["settings"]["repeats"] == 2


def test_bench_includes_the_selective_scan_and_filters_models(
    models_dir: Path, tmp_path: Path
) -> None:
    output = run_bench(
        tmp_path / "pytorch.json",
        models_dir=models_dir,
        models=["freeze"],
        repeats=1,
        train_steps=1,
        batch_size=2,
        threads=1,
        scan={"batch": 1, "reps": 1, "backward_reps": 1},
    )
    result = json.loads(output.read_text())
    (entry,) = result["models"]
    assert entry["mode"] == "freeze"
    check_model(entry)
    scan = result["selective_scan"]
    assert scan["benchmark"] == "selective_scan"
    for kind in ("forward_ms", "forward_backward_ms"):
        assert all(positive(v) for v in scan["cpu"][kind].values())


def test_bench_says_when_there_is_no_pytorch_model(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no PyTorch model"):
        run_bench(tmp_path / "out.json", models_dir=tmp_path, repeats=1, scan=None)
