"""Tiny fixtures built inside the tests: an ONNX classifier, its card, a registry, images."""

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

CLASSES = [
    "Baby Care",
    "Beauty and Personal Care",
    "Computers",
    "Home Decor & Festive Needs",
    "Home Furnishing",
    "Kitchen & Dining",
    "Watches",
]


def tiny_classifier(num_classes: int = len(CLASSES), seed: int = 0) -> onnx.ModelProto:
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
    graph = helper.make_graph(
        nodes,
        "tiny",
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
    name: str = "tiny_net",
    mode: str = "pad",
    size: int = 32,
    interpolation: str = "bicubic",
    seed: int = 0,
    framework: str = "pytorch",
) -> Path:
    folder = root / "models" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    data = tiny_classifier(seed=seed).SerializeToString()
    (folder / "model.onnx").write_bytes(data)
    card = {
        "schema_version": 1,
        "name": name,
        "framework": framework,
        "run_id": run_id,
        "mode": "finetune",
        "classes": CLASSES,
        "input": {
            "name": "pixels",
            "layout": "NHWC",
            "dtype": "float32",
            "value_range": [0, 255],
            "height": size,
            "width": size,
        },
        "output": {"name": "logits"},
        "preprocessing": {
            "mode": mode,
            "size": size,
            "interpolation": interpolation,
            "crop_pct": 0.875 if mode == "crop" else 1.0,
            "pad_color": [255, 255, 255],
        },
        "metrics": {"test": {"accuracy": 0.5, "macro_f1": 0.4, "num_images": 10}},
        "parameters": 300,
        "weights_source": "none",
        "onnx": {
            "file": "model.onnx",
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "opset": 17,
        },
        "created_at": "2026-11-23T10:40:00Z",
    }
    (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")
    return folder


def write_registry(root: Path, production: str | None, models: list[str]) -> None:
    registry = {"schema_version": 1, "production": production, "models": models, "history": []}
    (root / "registry.json").write_text(json.dumps(registry), encoding="utf-8")


def image_bytes(
    size: tuple[int, int] = (64, 48),
    fmt: str = "PNG",
    mode: str = "RGB",
    color=(200, 30, 60),
    **save_args,
) -> bytes:
    image = Image.new(mode, size, color)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def gradient_image(size: tuple[int, int] = (80, 50), seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    x = np.linspace(0, 255, w)[None, :, None]
    y = np.linspace(0, 255, h)[:, None, None]
    noise = rng.integers(0, 40, (h, w, 3))
    array = np.clip(np.concatenate([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2) + noise, 0, 255)
    return Image.fromarray(array.astype(np.uint8), "RGB")
