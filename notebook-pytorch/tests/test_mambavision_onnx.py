"""MambaVision exports to ONNX (opset 17, dynamic batch) and ONNX Runtime agrees with PyTorch.

CI exports mambavision_t at 64x64. Every other size: `MAMBAVISION_EXPORT_ALL=1 uv run pytest
tests/test_mambavision_onnx.py` (slow: minutes and several GB of RAM for L/L2/L3).
"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
import pytest
import timm
import torch
from flipkart_torch.models.mambavision import VARIANTS

OPSET = 17


def export_and_compare(name: str, path, size: int = 64, dynamo: bool = False) -> float:
    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=7).eval()
    example = torch.randn(2, 3, size, size)
    options = (
        {"dynamic_shapes": ({0: torch.export.Dim("batch", min=1, max=64)},), "dynamo": True}
        if dynamo
        else {"dynamic_axes": {"image": {0: "batch"}, "logits": {0: "batch"}}, "dynamo": False}
    )
    torch.onnx.export(
        model,
        (example,),
        str(path),
        input_names=["image"],
        output_names=["logits"],
        opset_version=OPSET,
        external_data=sum(p.numel() for p in model.parameters()) * 4 > 1.8e9,  # 2 GB proto cap
        **options,
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    worst = 0.0
    for batch in (3, 1):  # other batch sizes than the example's: the batch axis is dynamic
        images = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            expected = model(images).numpy()
        (got,) = session.run(None, {input_name: images.numpy()})
        assert got.shape == (batch, 7)
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def test_tiny_exports_and_onnx_runtime_matches_pytorch(tmp_path) -> None:
    assert export_and_compare("mambavision_t", tmp_path / "t.onnx") <= 1e-3


@pytest.mark.skipif(
    not os.environ.get("MAMBAVISION_EXPORT_ALL"), reason="slow: set MAMBAVISION_EXPORT_ALL=1"
)
@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("dynamo", [False, True])
def test_every_size_exports(tmp_path, name, dynamo) -> None:
    assert export_and_compare(name, tmp_path / f"{name}.onnx", dynamo=dynamo) <= 1e-3
