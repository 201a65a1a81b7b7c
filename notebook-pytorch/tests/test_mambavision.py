"""Our MambaVision: timm registration, NVIDIA's checkpoint layout, pretrained loading, sizes."""

from __future__ import annotations

import argparse
import logging
import math

import pytest
import timm
import torch
from flipkart_torch.models import mambavision, mambavision_weights
from flipkart_torch.models.mambavision import VARIANTS, attention_blocks
from flipkart_torch.models.mambavision_weights import (
    WeightsMismatchError,
    WeightsUnavailableError,
    load_pretrained,
)
from safetensors.torch import save_file

NAMES = [
    "mambavision_t",
    "mambavision_t2",
    "mambavision_s",
    "mambavision_b",
    "mambavision_l",
    "mambavision_l2",
    "mambavision_b_21k",
    "mambavision_l_21k",
    "mambavision_l2_512_21k",
    "mambavision_l3_256_21k",
    "mambavision_l3_512_21k",
]


def official_layout(dim, in_dim, depths, layer_scale, num_classes=1000, mlp_ratio=4):
    """Names and shapes of NVIDIA's released `state_dict`, written down from their
    `mamba_vision.py` (independently of our module): BatchNorm buffers included."""
    spec = {}

    def batchnorm(prefix, c):
        for name in ("weight", "bias", "running_mean", "running_var"):
            spec[f"{prefix}.{name}"] = (c,)
        spec[f"{prefix}.num_batches_tracked"] = ()

    spec["patch_embed.conv_down.0.weight"] = (in_dim, 3, 3, 3)
    batchnorm("patch_embed.conv_down.1", in_dim)
    spec["patch_embed.conv_down.3.weight"] = (dim, in_dim, 3, 3)
    batchnorm("patch_embed.conv_down.4", dim)
    for i, depth in enumerate(depths):
        c = dim * 2**i
        for j in range(depth):
            p = f"levels.{i}.blocks.{j}"
            if i < 2:  # ConvBlock
                for conv, norm in (("conv1", "norm1"), ("conv2", "norm2")):
                    spec[f"{p}.{conv}.weight"] = (c, c, 3, 3)
                    spec[f"{p}.{conv}.bias"] = (c,)
                    batchnorm(f"{p}.{norm}", c)
                continue
            for norm in ("norm1", "norm2"):
                spec[f"{p}.{norm}.weight"] = (c,)
                spec[f"{p}.{norm}.bias"] = (c,)
            second_half = j >= (depth // 2 + 1 if depth % 2 else depth // 2)
            if second_half:  # Attention, qkv_bias=True
                spec[f"{p}.mixer.qkv.weight"] = (3 * c, c)
                spec[f"{p}.mixer.qkv.bias"] = (3 * c,)
                spec[f"{p}.mixer.proj.weight"] = (c, c)
                spec[f"{p}.mixer.proj.bias"] = (c,)
            else:  # MambaVisionMixer(d_model=c, d_state=8, d_conv=3, expand=1)
                half, rank = c // 2, math.ceil(c / 16)
                spec[f"{p}.mixer.A_log"] = (half, 8)
                spec[f"{p}.mixer.D"] = (half,)
                spec[f"{p}.mixer.in_proj.weight"] = (c, c)
                spec[f"{p}.mixer.x_proj.weight"] = (rank + 16, half)
                spec[f"{p}.mixer.dt_proj.weight"] = (half, rank)
                spec[f"{p}.mixer.dt_proj.bias"] = (half,)
                spec[f"{p}.mixer.out_proj.weight"] = (c, c)
                spec[f"{p}.mixer.conv1d_x.weight"] = (half, 1, 3)
                spec[f"{p}.mixer.conv1d_z.weight"] = (half, 1, 3)
            spec[f"{p}.mlp.fc1.weight"] = (mlp_ratio * c, c)
            spec[f"{p}.mlp.fc1.bias"] = (mlp_ratio * c,)
            spec[f"{p}.mlp.fc2.weight"] = (c, mlp_ratio * c)
            spec[f"{p}.mlp.fc2.bias"] = (c,)
            if layer_scale:
                spec[f"{p}.gamma_1"] = (c,)
                spec[f"{p}.gamma_2"] = (c,)
        if i < len(depths) - 1:
            spec[f"levels.{i}.downsample.reduction.0.weight"] = (2 * c, c, 3, 3)
    features = dim * 2 ** (len(depths) - 1)
    batchnorm("norm", features)
    spec["head.weight"] = (num_classes, features)
    spec["head.bias"] = (num_classes,)
    return spec


# Loading into a model built on the meta device checks names and shapes without copying data.
load_into_meta = pytest.mark.filterwarnings("ignore:.*to a meta parameter:UserWarning")

T_SPEC = dict(dim=80, in_dim=32, depths=(1, 3, 8, 4), layer_scale=None)


def synthetic_checkpoint(spec, seed=0):
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in spec.items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(7)
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=g) + 0.5
        else:
            state[name] = torch.randn(shape, generator=g) * 0.02
    return state


@pytest.fixture(scope="module")
def t_checkpoint():
    return synthetic_checkpoint(official_layout(**T_SPEC))


@pytest.fixture(scope="module")
def tiny_input():
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def model_1000():
    """One MambaVision-T with the ImageNet head, shared: every test loads all of its weights."""
    return timm.create_model("mambavision_t")


@pytest.fixture(scope="module")
def model_7():
    return timm.create_model("mambavision_t", num_classes=7, pretrained=False)


def test_every_variant_is_registered_with_timm() -> None:
    assert set(NAMES) <= set(timm.list_models("mambavision*"))
    cfg = timm.get_pretrained_cfg("mambavision_t")
    assert cfg.hf_hub_id == "nvidia/MambaVision-T-1K"
    assert cfg.hf_hub_filename == "mambavision_tiny_1k.pth.tar"


@pytest.mark.parametrize(
    ("depth", "attention"),
    [(1, []), (3, [2]), (4, [2, 3]), (5, [3, 4]), (8, [4, 5, 6, 7]), (11, [6, 7, 8, 9, 10])],
)
def test_the_second_half_of_a_stage_is_attention(depth, attention) -> None:
    assert list(attention_blocks(depth)) == attention


def test_create_model_with_seven_classes_trains(model_7, tiny_input) -> None:
    model = model_7
    assert model.weights_source == "none"
    logits = model(tiny_input)
    assert logits.shape == (2, 7)
    logits.logsumexp(1).mean().backward()
    mixer = model.levels[2].blocks[0].mixer
    assert isinstance(mixer, mambavision.MambaVisionMixer)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert mixer.A_log.grad.abs().sum() > 0
    assert isinstance(model.levels[2].blocks[-1].mixer, mambavision.Attention)
    assert model.get_classifier().out_features == 7
    assert {"levels.2.blocks.0.mixer.A_log", "levels.2.blocks.0.mixer.D"} <= (
        model.no_weight_decay()
    )
    model.zero_grad()


def test_odd_input_sizes_are_padded_to_whole_windows(model_7) -> None:
    model_7.eval()
    with torch.no_grad():
        assert model_7(torch.randn(1, 3, 100, 70)).shape == (1, 7)
    model_7.train()


def test_tiny_parameter_count_matches_the_paper() -> None:
    with torch.device("meta"):
        model = timm.create_model("mambavision_t")
    count = sum(p.numel() for p in model.parameters())
    assert abs(count - 31.8e6) <= 0.01 * 31.8e6, count


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("mambavision_t", T_SPEC),
        ("mambavision_t2", dict(dim=80, in_dim=32, depths=(1, 3, 11, 4), layer_scale=None)),
        ("mambavision_s", dict(dim=96, in_dim=64, depths=(3, 3, 7, 5), layer_scale=None)),
        ("mambavision_b", dict(dim=128, in_dim=64, depths=(3, 3, 10, 5), layer_scale=1e-5)),
        ("mambavision_l", dict(dim=196, in_dim=64, depths=(3, 3, 10, 5), layer_scale=1e-5)),
        ("mambavision_l2", dict(dim=196, in_dim=64, depths=(3, 3, 12, 5), layer_scale=1e-5)),
        (
            "mambavision_l3_256_21k",
            dict(dim=256, in_dim=64, depths=(3, 3, 20, 10), layer_scale=1e-5),
        ),
    ],
)
def test_state_dict_has_the_official_names_and_shapes(name, spec) -> None:
    with torch.device("meta"):
        model = timm.create_model(name)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    official = official_layout(**spec)
    assert sorted(set(ours) - set(official)) == []
    assert sorted(set(official) - set(ours)) == []
    assert {k: ours[k] for k in official} == official


def test_official_checkpoint_loads_strictly(tmp_path, t_checkpoint, model_1000) -> None:
    model_1000.load_state_dict(t_checkpoint, strict=True)  # the raw official layout
    path = tmp_path / "mambavision_tiny_1k.pth.tar"
    # as saved by a timm-style training script: with its epoch and argparse namespace
    args = argparse.Namespace(model="mamba_vision_T", lr=0.0008)
    torch.save({"state_dict": t_checkpoint, "epoch": 309, "args": args}, path)
    with torch.no_grad():
        for p in model_1000.parameters():
            p.zero_()
    assert load_pretrained(model_1000, path) == "file:mambavision_tiny_1k.pth.tar"
    assert model_1000.weights_source == "file:mambavision_tiny_1k.pth.tar"
    for key, value in model_1000.state_dict().items():
        torch.testing.assert_close(value, t_checkpoint[key], msg=key)


def test_head_for_another_class_count_is_reinitialised(
    tmp_path, t_checkpoint, model_7, caplog
) -> None:
    path = tmp_path / "t.pth"
    torch.save(t_checkpoint, path)
    head_before = model_7.head.weight.clone()
    with caplog.at_level(logging.WARNING):
        assert load_pretrained(model_7, path) == "file:t.pth"
    assert "head re-initialised for 7 classes (checkpoint head: 1000 classes)" in caplog.text
    torch.testing.assert_close(model_7.head.weight, head_before)
    key = "levels.2.blocks.0.mixer.A_log"
    torch.testing.assert_close(model_7.state_dict()[key], t_checkpoint[key])


@pytest.mark.parametrize("layout", ["model_wrapper", "module_prefix", "hf_safetensors"])
def test_other_checkpoint_layouts_load(tmp_path, t_checkpoint, model_1000, layout) -> None:
    if layout == "model_wrapper":
        path = tmp_path / "ckpt.pth"
        torch.save({"model": t_checkpoint}, path)
    elif layout == "module_prefix":
        path = tmp_path / "ckpt.pth.tar"
        torch.save({"state_dict": {f"module.{k}": v for k, v in t_checkpoint.items()}}, path)
    else:  # Hugging Face transformers: MambaVisionModelForImageClassification.model.*
        path = tmp_path / "model.safetensors"
        save_file({f"model.{k}": v.contiguous() for k, v in t_checkpoint.items()}, path)
    with torch.no_grad():
        model_1000.head.bias.zero_()
    assert load_pretrained(model_1000, path) == f"file:{path.name}"
    torch.testing.assert_close(model_1000.head.bias, t_checkpoint["head.bias"])


def test_wrong_architecture_names_the_differing_keys(tmp_path, t_checkpoint) -> None:
    path = tmp_path / "tiny.pth.tar"
    torch.save({"state_dict": t_checkpoint}, path)
    with torch.device("meta"):
        t2 = timm.create_model("mambavision_t2")
    with pytest.raises(WeightsMismatchError) as error:
        load_pretrained(t2, path)
    message = str(error.value)
    assert "mambavision_t2" in message
    # T2's stage 3 has 11 blocks (attention from 6 on), T's 8 (attention from 4 on)
    assert "missing: levels.2.blocks.4.mixer.A_log" in message
    assert "unexpected: levels.2.blocks.4.mixer.qkv.weight" in message
    with torch.device("meta"):
        small = timm.create_model("mambavision_s")
    with pytest.raises(WeightsMismatchError, match=r"of another shape: .*\(32, 3, 3, 3\) vs"):
        load_pretrained(small, path)


def test_missing_file_and_non_checkpoint_file_are_clear_errors(tmp_path, model_1000) -> None:
    model = model_1000
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        load_pretrained(model, tmp_path / "nope.pth.tar")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"could not read junk\.pth"):
        load_pretrained(model, junk)


def test_unreachable_hub_tells_the_user_to_pass_weights(monkeypatch) -> None:
    calls = []

    def offline(repo_id, filename):
        calls.append((repo_id, filename))
        raise ConnectionError("no route to huggingface.co")

    monkeypatch.setattr(mambavision_weights, "_download_file", offline)
    with pytest.raises(WeightsUnavailableError, match=r"--weights PATH"), torch.device("meta"):
        timm.create_model("mambavision_t", pretrained=True, num_classes=7)
    assert calls == [("nvidia/MambaVision-T-1K", "mambavision_tiny_1k.pth.tar")]


@load_into_meta
def test_hub_source_is_recorded(monkeypatch, tmp_path, t_checkpoint) -> None:
    path = tmp_path / "mambavision_tiny_1k.pth.tar"
    torch.save({"state_dict": t_checkpoint}, path)
    monkeypatch.setattr(mambavision_weights, "_download_file", lambda repo_id, filename: path)
    with torch.device("meta"):
        model = timm.create_model("mambavision_t", pretrained=True, num_classes=7)
    assert model.weights_source == "hf:nvidia/MambaVision-T-1K"


@load_into_meta
def test_pretrained_cfg_file_overlay_loads_a_local_file(tmp_path, t_checkpoint) -> None:
    path = tmp_path / "local.pth.tar"
    torch.save({"state_dict": t_checkpoint}, path)
    with torch.device("meta"):
        model = timm.create_model(
            "mambavision_t", pretrained=True, pretrained_cfg_overlay={"file": str(path)}
        )
    assert model.weights_source == "file:local.pth.tar"


def test_variant_table_covers_every_registered_name() -> None:
    assert sorted(VARIANTS) == sorted(NAMES)
