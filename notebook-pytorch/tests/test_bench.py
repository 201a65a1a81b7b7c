"""`flipkart-torch bench` writes every figure for every PyTorch model (tiny model, 1-2 repeats;
no timing is asserted, only that each figure was measured)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import TINY_MODEL, tiny_run_id
from flipkart_contract import ResizePolicy, write_json_atomic
from flipkart_contract.testing import FLIPKART_CLASSES, card_dict
from flipkart_torch.bench import run_bench
from flipkart_torch.cli import run
from flipkart_torch.export import PixelsModel, export_onnx
from flipkart_torch.models.factory import create_model
from flipkart_torch.transforms import model_norm

SIZE = 32


def write_model(
    models_dir: Path, run_id: str, framework: str = "pytorch", keep_onnx: bool = True
) -> None:
    folder = models_dir / run_id
    folder.mkdir(parents=True)
    model = create_model(TINY_MODEL, num_classes=len(FLIPKART_CLASSES))
    export_onnx(PixelsModel(model, *model_norm(model)), SIZE, folder / "model.onnx")
    card = card_dict(
        (folder / "model.onnx").read_bytes(),
        run_id,
        architecture=run_id.split("_", 1)[1].rsplit("_", 1)[0],
        framework=framework,
        training_mode=run_id.rsplit("_", 1)[1],
        policy=ResizePolicy(method="pad", size=SIZE),
    )
    write_json_atomic(folder / "card.json", card)
    if not keep_onnx:  # as git leaves every model but production's: card only
        (folder / "model.onnx").unlink()


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_model(root, tiny_run_id("finetune", second=0))
    write_model(root, tiny_run_id("freeze", second=1))
    write_model(root, "20260101-000002_keras_model_finetune", framework="tensorflow")
    write_model(root, tiny_run_id("finetune", second=3), keep_onnx=False)
    return root


def positive(value: object) -> bool:
    return isinstance(value, (int, float)) and value > 0


def check_model(entry: dict) -> None:
    assert entry["architecture"] == TINY_MODEL and entry["image_size"] == SIZE
    assert positive(entry["train"]["images_per_s"]) and positive(entry["parameters"])
    for stat in ("median", "p90"):
        assert positive(entry["train"]["step_ms"][stat])
    for batch in ("batch_1", "batch_16"):
        timings = entry["inference_ms"][batch]
        for engine in ("eager", "onnxruntime"):
            assert all(positive(timings[engine][k]) for k in ("median", "p90", "median_per_image"))
        assert all(positive(timings["ort_over_eager"][k]) for k in ("median", "p90"))
    latency = entry["latency_ms"]  # the card's figure, measured the contract's way
    assert positive(latency["batch_1"]) and positive(latency["batch_16_per_image"])
    assert latency["threads"] == 1


def test_cli_bench_measures_every_pytorch_model(models_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "pytorch.json"
    args = ["bench", "--models-dir", str(models_dir), "--output", str(output), "--skip-scan"]
    quick = ["--repeats", "2", "--train-steps", "1", "--batch-size", "2", "--threads", "1"]
    assert run([*args, *quick]) == 0
    result = json.loads(output.read_text())
    assert result["framework"] == "pytorch" and result["selective_scan"] is None
    # Neither the Keras model nor the one whose ONNX is absent.
    assert [m["training_mode"] for m in result["models"]] == ["finetune", "freeze"]
    assert result["skipped_without_onnx"] == [tiny_run_id("finetune", second=3)]
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
    assert entry["training_mode"] == "freeze" and entry["train"]["training_mode"] == "freeze"
    check_model(entry)
    scan = result["selective_scan"]
    assert scan["benchmark"] == "selective_scan"
    for kind in ("forward_ms", "forward_backward_ms"):
        assert all(positive(v) for v in scan["cpu"][kind].values())


def test_bench_says_when_there_is_no_pytorch_model(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no PyTorch model"):
        run_bench(tmp_path / "out.json", models_dir=tmp_path, repeats=1, scan=None)
