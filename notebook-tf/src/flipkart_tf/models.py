"""A small model registry (timm style): one decorated function per architecture.

`create_model` builds the classifier: the Keras application as backbone (its rescaling and
normalisation layers stay inside, so the model takes RGB pixels 0–255), global average
pooling, dropout and a `logits` dense layer. Weights come from Keras' ImageNet download, a
local file, or nowhere; the source string is recorded in the run and the card.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
from flipkart_contract.run_id import TRAINING_MODES

_REGISTRY: dict[str, Callable[..., keras.Model]] = {}


class ModelError(ValueError):
    """Unknown architecture, bad training mode, or weights that cannot be used."""


def register_model(name: str) -> Callable:
    def decorator(builder: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
        _REGISTRY[name] = builder
        return builder

    return decorator


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def canonical_name(name: str) -> str:
    """`efficientnet_b0`, `EfficientNetB0` and `efficientnetb0` all name the same model."""
    key = name.strip().lower().replace("-", "_")
    for known in _REGISTRY:
        if key in (known, known.replace("_", "")):
            return known
    raise ModelError(f"unknown architecture {name!r}; choose one of {list_models()}")


@register_model("efficientnet_b0")
def efficientnet_b0(input_shape: tuple[int, int, int], weights: str | None) -> keras.Model:
    return keras.applications.EfficientNetB0(
        include_top=False, weights=weights, input_shape=input_shape, pooling="avg"
    )


@register_model("efficientnet_b1")
def efficientnet_b1(input_shape: tuple[int, int, int], weights: str | None) -> keras.Model:
    return keras.applications.EfficientNetB1(
        include_top=False, weights=weights, input_shape=input_shape, pooling="avg"
    )


@register_model("efficientnet_b2")
def efficientnet_b2(input_shape: tuple[int, int, int], weights: str | None) -> keras.Model:
    return keras.applications.EfficientNetB2(
        include_top=False, weights=weights, input_shape=input_shape, pooling="avg"
    )


@register_model("efficientnet_b3")
def efficientnet_b3(input_shape: tuple[int, int, int], weights: str | None) -> keras.Model:
    return keras.applications.EfficientNetB3(
        include_top=False, weights=weights, input_shape=input_shape, pooling="avg"
    )


@dataclass
class BuiltModel:
    model: keras.Model
    backbone: keras.Model
    weights_source: str


def _backbone(name: str, image_size: int, weights: str) -> tuple[keras.Model, str]:
    builder = _REGISTRY[name]
    shape = (image_size, image_size, 3)
    if weights in ("none", ""):
        return builder(shape, None), "none"
    if weights == "imagenet":
        try:
            return builder(shape, "imagenet"), "keras:imagenet"
        except Exception as error:  # the download is the only thing that can fail here
            raise ModelError(
                f"Keras ImageNet weights for {name} could not be loaded ({error}); "
                "without network access use --weights none or --weights PATH"
            ) from error
    return _from_file(name, builder(shape, None), Path(weights)), f"file:{Path(weights).name}"


def _from_file(name: str, backbone: keras.Model, path: Path) -> keras.Model:
    """Weights from a Keras `.weights.h5`, a legacy `_notop.h5`, or a `.keras` model."""
    if not path.is_file():
        raise ModelError(f"weights file {path} not found")
    if path.suffix not in (".h5", ".keras"):
        raise ModelError(f"weights file {path} must be a .h5 or .keras file")
    try:
        if path.suffix == ".keras":
            saved = keras.saving.load_model(path, compile=False)
            _copy_weights(_find_backbone(saved, backbone), backbone)
        else:
            backbone.load_weights(path)
    except ModelError:
        raise
    except Exception as error:
        raise ModelError(
            f"weights file {path.name} does not fit {name} (wrong architecture?): {error}"
        ) from error
    return backbone


def _copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Layer by layer, by name (layers without weights, e.g. fixed normalisation, skipped)."""
    for layer in target.layers:
        if not layer.weights:
            continue
        try:
            origin = source.get_layer(layer.name)
        except ValueError as error:
            raise ModelError(f"no layer {layer.name!r} in the saved backbone") from error
        layer.set_weights(origin.get_weights())


def _find_backbone(saved: keras.Model, backbone: keras.Model) -> keras.Model:
    """The nested layer with the backbone's name (a classifier), or the saved model itself."""
    for layer in saved.layers:
        if layer.name == backbone.name and isinstance(layer, keras.Model):
            return layer
    if saved.name == backbone.name:
        return saved
    raise ModelError(
        f"the .keras file holds no {backbone.name!r} backbone (found {saved.name!r}); "
        "wrong architecture?"
    )


def create_model(
    architecture: str,
    num_classes: int,
    image_size: int,
    weights: str = "none",
    training_mode: str = "finetune",
    dropout: float = 0.2,
    bn_momentum: float | None = None,
) -> BuiltModel:
    if training_mode not in TRAINING_MODES:
        raise ModelError(f"training mode must be one of {TRAINING_MODES}, got {training_mode!r}")
    if num_classes < 2:
        raise ModelError(f"need at least 2 classes, got {num_classes}")
    name = canonical_name(architecture)
    backbone, source = _backbone(name, image_size, weights)
    backbone.trainable = training_mode == "finetune"
    if bn_momentum is not None:
        # Keras' 0.99 lets the moving statistics lag for hundreds of steps: from scratch on a
        # small split, inference then sees the initial mean/variance and predicts one class.
        for layer in backbone.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = bn_momentum
    pixels = keras.Input((image_size, image_size, 3), name="pixels")
    # training=False keeps a frozen backbone's batch-norm statistics fixed (Keras' recipe)
    features = backbone(pixels, training=False) if training_mode == "freeze" else backbone(pixels)
    features = keras.layers.Dropout(dropout, name="head_dropout")(features)
    logits = keras.layers.Dense(num_classes, name="logits")(features)
    classifier = keras.Model(pixels, logits, name=f"{name}_classifier")
    return BuiltModel(classifier, backbone, source)


@register_model("tiny_cnn")
def tiny_cnn(input_shape: tuple[int, int, int], weights: str | None) -> keras.Model:
    """Not a study candidate: a few-thousand-parameter CNN for smoke tests and CI. It keeps
    the same in-graph preprocessing layers (Rescaling, Normalization) as EfficientNet."""
    pixels = keras.Input(input_shape)
    x = keras.layers.Rescaling(1.0 / 255.0)(pixels)
    x = keras.layers.Normalization(
        mean=[0.485, 0.456, 0.406], variance=[0.229**2, 0.224**2, 0.225**2]
    )(x)
    for i, filters in enumerate((8, 16)):
        x = keras.layers.Conv2D(
            filters, 3, strides=2, padding="same", use_bias=False, name=f"conv{i}"
        )(x)
        x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
        x = keras.layers.Activation("swish", name=f"act{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    backbone = keras.Model(pixels, x, name="tiny_cnn")
    if weights is not None:
        backbone.load_weights(weights)
    return backbone
