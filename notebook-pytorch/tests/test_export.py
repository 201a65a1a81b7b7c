"""ONNX export: the model contract, parity before any card, size limit, eval_transform."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import CLASSES, tiny_config
from flipkart_torch.export import ParityError, evaluate_checkpoint, export_run, load_checkpoint
from flipkart_torch.train import train
from flipkart_torch.transforms import eval_transform, normalize
from onnx import numpy_helper
from PIL import Image


@pytest.fixture(scope="module")
def trained(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("export")
    config = tiny_config(tiny_data, out, resize_mode="crop", interpolation="bilinear")
    result = train(config)
    result["out"] = out
    result["data"] = tiny_data
    return result


def export(trained: dict, models_dir: Path, **kwargs) -> dict:
    return export_run(
        trained["checkpoint"],
        models_dir=models_dir,
        splits_csv=trained["data"] / "splits.csv",
        images_dir=trained["data"] / "images",
        runs_dir=trained["out"] / "runs",
        **kwargs,
    )


def test_export_writes_model_and_card_per_contract(trained: dict, tmp_path: Path) -> None:
    card = export(trained, tmp_path)
    folder = tmp_path / trained["run_id"]
    assert json.loads((folder / "card.json").read_text()) == card
    onnx_path = folder / "model.onnx"
    assert card["onnx"]["sha256"] == hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    assert card["onnx"]["bytes"] == onnx_path.stat().st_size
    assert card["classes"] == CLASSES and card["framework"] == "pytorch"
    assert card["preprocessing"]["mode"] == "crop" and card["preprocessing"]["size"] == 32
    assert card["input"] == {
        "name": "pixels",
        "layout": "NHWC",
        "dtype": "float32",
        "value_range": [0, 255],
        "height": 32,
        "width": 32,
    }
    assert card["parity"]["max_abs_logit_diff"] <= 1e-3 and card["parity"]["top1_agreement"] == 1.0
    assert card["parity"]["num_images"] == 9
    assert card["latency_ms"]["batch_1"] > 0 and card["latency_ms"]["batch_16_per_image"] > 0
    assert card["metrics"]["test"]["num_images"] == 9
    assert card["parameters"] > 0 and card["weights_source"] == "none"

    graph = onnx.load(str(onnx_path)).graph
    assert [i.name for i in graph.input] == ["pixels"] and [o.name for o in graph.output] == [
        "logits"
    ]
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [32, 32, 3]

    # The served path: eval_transform (card policy) -> uint8 HWC -> ORT, equals PyTorch.
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    transform = eval_transform(card["preprocessing"])
    names = sorted((trained["data"] / "images").glob("test_*.jpg"))[:3]
    pixels = np.stack([transform(Image.open(p)) for p in names])
    logits = session.run(["logits"], {"pixels": pixels.astype(np.float32)})[0]
    assert logits.shape == (3, 3)
    model, best = load_checkpoint(trained["checkpoint"])
    with torch.no_grad():
        expected = model(normalize(torch.from_numpy(pixels), best["mean"], best["std"])).numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4)


def test_no_card_when_parity_fails(trained: dict, tmp_path: Path) -> None:
    def break_graph(path: Path) -> None:
        graph = onnx.load(str(path))
        for initializer in graph.graph.initializer:
            if initializer.name.endswith("classifier.weight") or len(initializer.dims) == 2:
                broken = numpy_helper.to_array(initializer) * 1.5
                initializer.CopyFrom(numpy_helper.from_array(broken, initializer.name))
                break
        onnx.save(graph, str(path))

    with pytest.raises(ParityError, match="no card"):
        export(trained, tmp_path, tamper=break_graph)
    assert not (tmp_path / trained["run_id"]).exists()


def test_oversized_model_is_not_written(trained: dict, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="limit"):
        export(trained, tmp_path, max_bytes=1000)
    assert not (tmp_path / trained["run_id"]).exists()


def test_evaluate_checkpoint_reproduces_the_runs_test_figures(trained: dict) -> None:
    figures = evaluate_checkpoint(
        trained["checkpoint"], "test", trained["data"] / "splits.csv", trained["data"] / "images"
    )
    test = trained["metrics"]["final"]["test"]
    assert figures["accuracy"] == pytest.approx(test["accuracy"])
    assert figures["confusion_matrix"] == test["confusion_matrix"]
