"""The model registry, weights sources and their errors."""

import keras
import numpy as np
import pytest
from flipkart_tf.models import ModelError, canonical_name, create_model, list_models


def test_registry_names_and_aliases() -> None:
    assert {"efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3"} <= set(
        list_models()
    )
    assert canonical_name("EfficientNetB0") == "efficientnet_b0"
    assert canonical_name("efficientnet-b3") == "efficientnet_b3"


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="unknown architecture 'resnet50'"):
        create_model("resnet50", 7, 32)


def test_bad_training_mode_is_refused() -> None:
    with pytest.raises(ModelError, match="training mode must be one of"):
        create_model("tiny_cnn", 7, 32, training_mode="lora")


def test_efficientnet_b0_takes_pixels_and_gives_logits() -> None:
    built = create_model("efficientnet_b0", 7, 32, "none", "finetune")
    assert built.weights_source == "none"
    assert built.model.input_shape == (None, 32, 32, 3)
    assert built.model.output_shape == (None, 7)
    assert built.backbone.trainable
    # the backbone rescales 0–255 pixels itself
    assert any(isinstance(layer, keras.layers.Rescaling) for layer in built.backbone.layers)


def test_freeze_trains_only_the_head() -> None:
    built = create_model("tiny_cnn", 7, 32, "none", "freeze")
    assert not built.backbone.trainable
    trainable = {w.path.split("/")[0] for w in built.model.trainable_weights}
    assert trainable == {"logits"}


def test_weights_from_a_local_file(tmp_path) -> None:
    source = create_model("efficientnet_b0", 7, 32, "none").backbone
    path = tmp_path / "b0_notop.weights.h5"
    source.save_weights(path)
    built = create_model("efficientnet_b0", 7, 32, str(path))
    assert built.weights_source == "file:b0_notop.weights.h5"
    for loaded, saved in zip(built.backbone.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(loaded, saved)


def test_backbone_weights_from_a_keras_model_file(tmp_path) -> None:
    trained = create_model("tiny_cnn", 7, 32, "none").model
    path = tmp_path / "previous.keras"
    trained.save(path)
    built = create_model("tiny_cnn", 3, 32, str(path))
    assert built.weights_source == "file:previous.keras"
    np.testing.assert_array_equal(
        built.backbone.get_weights()[0], trained.get_layer("tiny_cnn").get_weights()[0]
    )


def test_wrong_architecture_weights_are_a_clear_error(tmp_path) -> None:
    path = tmp_path / "tiny.weights.h5"
    create_model("tiny_cnn", 7, 32, "none").backbone.save_weights(path)
    with pytest.raises(ModelError, match="does not fit efficientnet_b0"):
        create_model("efficientnet_b0", 7, 32, str(path))
    keras_file = tmp_path / "tiny.keras"
    create_model("tiny_cnn", 7, 32, "none").model.save(keras_file)
    with pytest.raises(ModelError, match="wrong architecture"):
        create_model("efficientnet_b0", 7, 32, str(keras_file))


def test_missing_or_odd_weights_files(tmp_path) -> None:
    with pytest.raises(ModelError, match="not found"):
        create_model("tiny_cnn", 7, 32, str(tmp_path / "nope.h5"))
    odd = tmp_path / "weights.bin"
    odd.write_bytes(b"\0")
    with pytest.raises(ModelError, match=r"\.h5 or \.keras"):
        create_model("tiny_cnn", 7, 32, str(odd))


def test_unreachable_imagenet_weights_say_what_to_do(monkeypatch) -> None:
    def offline(*args, **kwargs):
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(keras.applications, "EfficientNetB0", offline)
    with pytest.raises(ModelError, match="--weights none or --weights PATH"):
        create_model("efficientnet_b0", 7, 32, "imagenet")


def test_bn_momentum_is_applied_to_every_backbone_batch_norm() -> None:
    built = create_model("tiny_cnn", 7, 32, "none", bn_momentum=0.9)
    layers = built.backbone.layers
    norms = [x for x in layers if isinstance(x, keras.layers.BatchNormalization)]
    assert norms and all(layer.momentum == 0.9 for layer in norms)
    default = create_model("tiny_cnn", 7, 32, "none")
    assert all(
        layer.momentum == 0.99
        for layer in default.backbone.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
