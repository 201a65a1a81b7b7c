"""ONNX export: the model contract, parity before any card, size limit, the served path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
import torch
from conftest import CLASSES, TINY_MODEL, tiny_config
from flipkart_contract import ResizePolicy, load_card, sha256_file
from flipkart_torch import checkpoints
from flipkart_torch.data import load_eval_view
from flipkart_torch.export import ParityError, evaluate_checkpoint, export_run
from flipkart_torch.train import train
from flipkart_torch.transforms import normalize
from onnx import numpy_helper


@pytest.fixture(scope="module")
def trained(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("export")
    config = tiny_config(tiny_data, out, resize_method="crop", interpolation="bilinear")
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
    assert load_card(folder / "card.json").run_id == trained["run_id"]  # the contract's schema
    onnx_path = folder / "model.onnx"
    assert card["schema_version"] == 2
    assert card["onnx"]["sha256"] == sha256_file(onnx_path)
    assert card["onnx"]["bytes"] == onnx_path.stat().st_size
    assert card["classes"] == CLASSES and card["framework"] == "pytorch"
    assert card["architecture"] == TINY_MODEL and card["training_mode"] == "finetune"
    assert card["resize_policy"]["method"] == "crop" and card["resize_policy"]["size"] == 32
    assert card["resize_policy"]["interpolation"] == "bilinear"
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
    assert card["latency_ms"]["threads"] == torch.get_num_threads()
    test = trained["metrics"]["final"]["test"]
    assert card["metrics"]["test"] == {k: v for k, v in test.items() if k != "loss"}
    assert card["metrics"]["test"]["num_images"] == 9
    assert card["parameters"] > 0 and card["weights_source"] == "none"

    graph = onnx.load(str(onnx_path)).graph
    assert [i.name for i in graph.input] == ["pixels"] and [o.name for o in graph.output] == [
        "logits"
    ]
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [32, 32, 3]

    # The served path: the card's policy -> load_eval_view -> uint8 HWC -> ORT, equals PyTorch.
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    policy = ResizePolicy.model_validate(card["resize_policy"])
    names = sorted((trained["data"] / "images").glob("test_*.jpg"))[:3]
    pixels = np.stack([load_eval_view(p, policy) for p in names])
    logits = session.run(["logits"], {"pixels": pixels.astype(np.float32)})[0]
    assert logits.shape == (3, 3)
    model, best = checkpoints.load_model(trained["checkpoint"])
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
    assert figures["per_class"] == test["per_class"] and figures["ms_per_image"] > 0


def test_a_checkpoint_with_the_old_key_names_still_exports(trained: dict, tmp_path: Path) -> None:
    """best.pt written before the contract's vocabulary: model_name, the timm name under
    `architecture`, `preprocessing` with `mode`, a config with model/mode/resize_mode."""
    blob = torch.load(trained["checkpoint"], map_location="cpu", weights_only=False)
    config = dict(blob["config"])
    config["model"] = config.pop("architecture")
    config["mode"] = config.pop("training_mode")
    config["resize_mode"] = config.pop("resize_method")
    policy = dict(blob["resize_policy"])
    policy["mode"] = policy.pop("method")
    old = {
        "model": blob["model"],
        "model_name": blob["architecture"],
        "architecture": blob["timm_name"],
        "classes": blob["classes"],
        "preprocessing": policy,
        "mean": blob["mean"],
        "std": blob["std"],
        "weights_source": blob["weights_source"],
        "config": config,
        "epoch": blob["epoch"],
        "run_id": blob["run_id"],
    }
    path = tmp_path / "old" / "best.pt"
    checkpoints.save_atomic(old, path)
    card = export_run(
        str(path),
        models_dir=tmp_path / "models",
        splits_csv=trained["data"] / "splits.csv",
        images_dir=trained["data"] / "images",
        runs_dir=trained["out"] / "runs",
    )
    assert card["architecture"] == TINY_MODEL and card["training_mode"] == "finetune"
    assert card["resize_policy"]["method"] == "crop"


def _initializer_types(path: Path) -> set[int]:
    return {init.data_type for init in onnx.load(str(path)).graph.initializer}


@pytest.mark.parametrize(
    ("precision", "stored_as"),
    [("int8", onnx.TensorProto.INT8), ("fp16", onnx.TensorProto.FLOAT16)],
)
def test_reduced_precision_export_is_judged_against_fp32_and_recorded(
    trained: dict, tmp_path: Path, precision: str, stored_as: int
) -> None:
    card = export(trained, tmp_path, precision=precision)
    folder = tmp_path / trained["run_id"]
    served, reference = folder / "model.onnx", folder / "model.fp32.onnx"
    assert load_card(folder / "card.json").precision == precision  # the contract accepts it
    assert card["precision"] == precision
    assert stored_as in _initializer_types(served)
    assert card["onnx"]["sha256"] == sha256_file(served)
    assert served.stat().st_size < reference.stat().st_size  # the fp32 graph is kept beside it
    check = card["precision_check"]
    assert check["fp32_bytes"] == reference.stat().st_size
    assert check["num_images"] == 9 and check["split"] == "test"
    assert check["top1_agreement"] >= 0.99
    assert abs(check["fp32_accuracy"] - check["accuracy"]) <= 0.005
    # the card's figures are the served graph's own, recomputed from its logits
    session = ort.InferenceSession(str(served), providers=["CPUExecutionProvider"])
    policy = ResizePolicy.model_validate(card["resize_policy"])
    table = pd.read_csv(trained["data"] / "splits.csv").query("split == 'test'")
    images = [trained["data"] / "images" / name for name in table["image"]]
    pixels = np.stack([load_eval_view(p, policy) for p in images]).astype(np.float32)
    logits = session.run(["logits"], {"pixels": pixels})[0]
    labels = [CLASSES.index(label) for label in table["label"]]
    assert check["accuracy"] == pytest.approx(float(np.mean(logits.argmax(1) == labels)))
    assert card["metrics"]["test"]["accuracy"] == pytest.approx(check["accuracy"])
    assert card["metrics"]["val"]["num_images"] == 9


def test_a_reduced_graph_failing_the_rule_writes_nothing(
    trained: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flipkart_torch import export as export_module
    from flipkart_torch.precision import PrecisionError

    def contrary(fp32_path: Path, out_path: Path, precision: str) -> str:
        graph = onnx.load(str(fp32_path))  # every logit negated: top-1 becomes the bottom-1
        graph.graph.node.append(onnx.helper.make_node("Neg", ["logits_fp32"], ["logits"]))
        for node in graph.graph.node[:-1]:
            node.output[:] = ["logits_fp32" if o == "logits" else o for o in node.output]
        onnx.save(graph, str(out_path))
        return "negated (test)"

    monkeypatch.setattr(export_module, "reduce_precision", contrary)
    with pytest.raises(PrecisionError, match="acceptance rule"):
        export(trained, tmp_path, precision="int8")
    assert not (tmp_path / trained["run_id"]).exists()
