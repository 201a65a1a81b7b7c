"""The backend's own fixtures: a tiny ONNX classifier, written as a model folder of the catalog.

Cards, registries, images and the class names come from `flipkart_contract.testing`.
"""

from pathlib import Path

import numpy as np
import onnx
from flipkart_contract import (
    ModelCard,
    ResizePolicy,
    parse_run_id,
    write_json_atomic,
)
from flipkart_contract.testing import (
    FLIPKART_CLASSES,
    card_dict,
    registry_dict,
)
from onnx import TensorProto, helper, numpy_helper


def tiny_classifier(num_classes: int = len(FLIPKART_CLASSES), seed: int = 0) -> onnx.ModelProto:
    """pixels [N,H,W,3] 0-255 → /255 → NCHW → conv 3x3/2 → relu → global avg pool → linear."""
    rng = np.random.default_rng(seed)
    conv_w = rng.normal(0, 0.5, (8, 3, 3, 3)).astype(np.float32)
    conv_b = rng.normal(0, 0.1, (8,)).astype(np.float32)
    fc_w = rng.normal(0, 1.0, (8, num_classes)).astype(np.float32)
    fc_b = rng.normal(0, 0.1, (num_classes,)).astype(np.float32)
    nodes = [
        helper.make_node("Mul", ["pixels", "scale"], ["scaled"]),
        helper.make_node("Transpose", ["scaled"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "conv_w", "conv_b"], ["conv"], strides=[2, 2]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "fc_w"], ["matmul"]),
        helper.make_node("Add", ["matmul", "fc_b"], ["logits"]),
    ]
    initializers = [
        numpy_helper.from_array(np.array(1 / 255, np.float32), "scale"),
        numpy_helper.from_array(conv_w, "conv_w"),
        numpy_helper.from_array(conv_b, "conv_b"),
        numpy_helper.from_array(fc_w, "fc_w"),
        numpy_helper.from_array(fc_b, "fc_b"),
    ]
    return pixels_model("tiny", nodes, initializers, num_classes)


def pixels_model(name: str, nodes: list, initializers: list, num_classes: int) -> onnx.ModelProto:
    """A checked opset-17 model of the contract's signature: `pixels` [N, H, W, 3] -> `logits`."""
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", "H", "W", 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", num_classes])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_model(
    root: Path,
    run_id: str,
    *,
    method: str = "pad",
    size: int = 32,
    interpolation: str = "bicubic",
    seed: int = 0,
    framework: str = "pytorch",
    precision: str = "fp32",
    graph: onnx.ModelProto | None = None,
) -> Path:
    """`models/<run_id>/{model.onnx,card.json}`: the tiny classifier (or `graph`) and its valid
    card.

    The card's architecture and training mode are those of the run id. `precision="int8"`:
    the classifier through ONNX Runtime's dynamic quantisation, as `flipkart-torch export
    --precision int8` makes it (the card's acceptance figures are placeholders that pass).
    """
    _, architecture, training_mode = parse_run_id(run_id)
    folder = root / "models" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    data = (graph or tiny_classifier(seed=seed)).SerializeToString()
    (folder / "model.onnx").write_bytes(data)
    reduced = {}
    if precision == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        (folder / "model.fp32.onnx").write_bytes(data)
        quantize_dynamic(
            folder / "model.fp32.onnx", folder / "model.onnx", weight_type=QuantType.QInt8
        )
        fp32_bytes, data = len(data), (folder / "model.onnx").read_bytes()
        check = {"method": "quantize_dynamic", "num_images": 4, "top1_agreement": 1.0}
        check |= {"accuracy": 0.5, "fp32_accuracy": 0.5, "max_abs_logit_diff": 0.01}
        reduced = {"precision": "int8", "precision_check": {**check, "fp32_bytes": fp32_bytes}}
    policy = ResizePolicy(
        method=method,
        size=size,
        interpolation=interpolation,
        crop_pct=0.875 if method == "crop" else 1.0,
    )
    card = card_dict(
        data,
        run_id,
        architecture=architecture,
        framework=framework,
        training_mode=training_mode,
        policy=policy,
        **reduced,
    )
    # Written as the exports write it: validated, nulls left out.
    card = ModelCard.model_validate(card).model_dump(mode="json", exclude_none=True)
    write_json_atomic(folder / "card.json", card)
    return folder


def write_registry(
    root: Path, production: str | None, models: list[str], listing: str | None = None
) -> None:
    registry = registry_dict(production, models)
    if listing is not None:
        registry["listing"] = listing
    write_json_atomic(root / "registry.json", registry)
