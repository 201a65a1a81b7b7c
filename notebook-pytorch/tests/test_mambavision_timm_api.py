"""MambaVision's timm API: features_only / forward_intermediates / pruning, gradient
checkpointing, group_matcher for layer-wise lr decay, and the dropout modes (head | nvidia).

Everything runs on a tiny configuration (16 channels, depths 1-1-2-2, 64x64 inputs).
"""

from __future__ import annotations

import copy

import pytest
import timm
import torch
import torch.nn.functional as F
from flipkart_torch.models.mambavision import Attention, Block, MambaVision, attention_blocks
from test_mambavision import T_SPEC, official_layout
from timm.models import group_parameters
from timm.optim import create_optimizer_v2, param_groups_layer_decay
from torch import nn

TINY = dict(dim=16, in_dim=8, depths=(1, 1, 2, 2), num_heads=(1, 1, 2, 2), window_size=(4, 4, 2, 2))
CHANNELS = [16, 32, 64, 128]
REDUCTIONS = [4, 8, 16, 32]


def tiny(seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    return timm.create_model("mambavision_t", **{**TINY, **kwargs})


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return tiny(num_classes=5).eval()


# -- features_only, forward_intermediates, prune_intermediate_layers ---------------------------


def test_feature_info_describes_the_four_stages(model) -> None:
    assert [f["num_chs"] for f in model.feature_info] == CHANNELS
    assert [f["reduction"] for f in model.feature_info] == REDUCTIONS
    assert [f["module"] for f in model.feature_info] == [f"levels.{i}" for i in range(4)]


def test_forward_intermediates_gives_every_stage_and_the_final_features(model, images) -> None:
    with torch.no_grad():
        final, maps = model.forward_intermediates(images)
        features = model.forward_features(images)
    assert torch.equal(final, features)  # same ops as forward_features
    assert [tuple(m.shape) for m in maps] == [
        (2, c, 64 // r, 64 // r) for c, r in zip(CHANNELS, REDUCTIONS, strict=True)
    ]
    # each map is its stage's output before the downsampling that feeds the next stage
    with torch.no_grad():
        for i in range(3):
            expected = model.levels[i + 1].forward_blocks(model.levels[i].downsample(maps[i]))
            torch.testing.assert_close(maps[i + 1], expected)
        torch.testing.assert_close(model.norm(maps[3]), features)


def test_forward_intermediates_options(model, images) -> None:
    with torch.no_grad():
        _, every = model.forward_intermediates(images)
        last_two = model.forward_intermediates(images, indices=2, intermediates_only=True)
        picked = model.forward_intermediates(images, indices=[0, -2], intermediates_only=True)
        early_x, early = model.forward_intermediates(images, indices=[1], stop_early=True)
        normed = model.forward_intermediates(images, indices=[2, 3], norm=True)[1]
    assert [torch.equal(a, b) for a, b in zip(last_two, every[2:], strict=True)] == [True] * 2
    assert torch.equal(picked[0], every[0]) and torch.equal(picked[1], every[2])
    assert torch.equal(early[0], every[1]) and torch.equal(early_x, every[1])
    assert torch.equal(normed[0], every[2])  # the final norm only fits the last stage
    torch.testing.assert_close(normed[1], model.norm(every[3]))
    with pytest.raises(ValueError, match="NCHW"):
        model.forward_intermediates(images, output_fmt="NHWC")
    with pytest.raises(AssertionError, match="out of range"):
        model.forward_intermediates(images, indices=[4])


def test_prune_intermediate_layers_keeps_the_maps_asked_for(model, images) -> None:
    pruned = copy.deepcopy(model)
    assert pruned.prune_intermediate_layers([0, 1]) == [0, 1]
    assert len(pruned.levels) == 2 and pruned.levels[1].downsample is None
    assert isinstance(pruned.norm, nn.Identity) and isinstance(pruned.head, nn.Identity)
    assert pruned.num_features == 32
    with torch.no_grad():
        maps = pruned.forward_intermediates(images, indices=[0, 1], intermediates_only=True)
        full = model.forward_intermediates(images, indices=[0, 1], intermediates_only=True)
        out = pruned(images)
    assert all(torch.equal(a, b) for a, b in zip(maps, full, strict=True))
    assert out.shape == (2, 32, 8, 8)  # no head left: the last kept stage's map


def test_features_only_through_timm_create_model(model, images) -> None:
    backbone = tiny(num_classes=5, features_only=True).eval()
    assert backbone.feature_info.channels() == CHANNELS
    assert backbone.feature_info.reduction() == REDUCTIONS
    assert "classifier" not in backbone.pretrained_cfg and backbone.weights_source == "none"
    with torch.no_grad():
        maps = backbone(images)
        expected = model.forward_intermediates(images, intermediates_only=True)
    assert all(torch.equal(a, b) for a, b in zip(maps, expected, strict=True))

    two = tiny(features_only=True, out_indices=(1, 2)).eval()
    assert two.feature_info.channels() == [32, 64] and two.feature_info.reduction() == [8, 16]
    assert len(two.model.levels) == 3  # the fourth stage is pruned away
    with torch.no_grad():
        assert [tuple(m.shape) for m in two(images)] == [(2, 32, 8, 8), (2, 64, 4, 4)]
    with pytest.raises(ValueError, match="getter"):
        tiny(features_only=True, feature_cls="hook")


def test_features_only_loads_pretrained_weights_before_pruning(tmp_path) -> None:
    source = tiny(seed=3, num_classes=1000)
    path = tmp_path / "tiny.pth.tar"
    torch.save({"state_dict": source.state_dict()}, path)
    backbone = tiny(
        seed=4,
        features_only=True,
        out_indices=(0, 1),
        pretrained=True,
        pretrained_cfg_overlay={"file": str(path)},
    )
    assert backbone.weights_source == "file:tiny.pth.tar"
    for key, value in backbone.model.state_dict().items():
        torch.testing.assert_close(value, source.state_dict()[key], msg=key)


# -- gradient checkpointing ------------------------------------------------------------------


def test_grad_checkpointing_gives_the_same_loss_and_gradients(images) -> None:
    plain = tiny(
        num_classes=5,
        drop_path_rate=0.3,
        drop_rate=0.2,
        drop_mode="nvidia",
        attn_drop_rate=0.1,
    ).train()
    checkpointed = copy.deepcopy(plain)
    checkpointed.set_grad_checkpointing(True)
    assert all(level.grad_checkpointing for level in checkpointed.levels)
    calls = []
    # a pre-hook: recomputation stops early, once it has the tensors backward needs
    checkpointed.levels[2].blocks[1].register_forward_pre_hook(lambda *_: calls.append(1))
    target = torch.tensor([1, 3])
    losses = []
    for net in (plain, checkpointed):
        torch.manual_seed(7)  # the same dropout and drop-path masks for both
        loss = F.cross_entropy(net(images), target)
        loss.backward()
        losses.append(loss.detach())
    assert len(calls) == 2  # the block ran again in backward: it was checkpointed
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=1e-6)
    grads = dict(checkpointed.named_parameters())
    for name, param in plain.named_parameters():
        torch.testing.assert_close(param.grad, grads[name].grad, rtol=1e-5, atol=1e-6, msg=name)
    checkpointed.set_grad_checkpointing(False)
    assert not any(level.grad_checkpointing for level in checkpointed.levels)


# -- group_matcher / layer-wise learning-rate decay ------------------------------------------


def test_fine_groups_order_stem_blocks_head(model) -> None:
    layer = group_parameters(model, model.group_matcher(coarse=False), reverse=True)
    names = [name for name, _ in model.named_parameters()]
    assert sorted(layer) == sorted(names)  # every parameter has a layer

    def ids(prefix: str) -> list[int]:
        return [layer[n] for n in names if n.startswith(prefix)]

    assert set(ids("patch_embed.")) == {0}
    previous = 0
    for i, depth in enumerate(TINY["depths"]):
        for j in range(depth):
            block = set(ids(f"levels.{i}.blocks.{j}."))
            assert len(block) == 1 and min(block) == previous + 1, (i, j)
            previous = min(block)
        if i < 3:  # the downsampling goes with the stage's last block
            assert set(ids(f"levels.{i}.downsample.")) == {previous}
    assert set(ids("norm.")) == {previous}
    assert set(ids("head.")) == {previous + 1} and max(layer.values()) == previous + 1


def test_coarse_groups_are_stem_stages_head(model) -> None:
    layer = group_parameters(model, model.group_matcher(coarse=True), reverse=True)
    assert len(layer) == len(list(model.parameters()))
    expected = {"patch_embed.": 0, "levels.0.": 1, "levels.1.": 2, "levels.2.": 3}
    expected |= {"levels.3.": 4, "norm.": 4, "head.": 5}
    for name in layer:
        prefix = next(p for p in expected if name.startswith(p))
        assert layer[name] == expected[prefix], name


def test_timm_layer_decay_covers_every_parameter_once(model) -> None:
    groups = param_groups_layer_decay(
        model, weight_decay=0.05, no_weight_decay_list=model.no_weight_decay(), layer_decay=0.5
    )
    grouped = [id(p) for g in groups for p in g["params"]]
    assert len(grouped) == len(set(grouped)) == len(list(model.parameters()))
    scale = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    stem = [scale[id(p)] for p in model.patch_embed.parameters()]
    stages = [scale[id(p)] for p in model.levels.parameters()]
    head = [scale[id(p)] for p in model.head.parameters()]
    assert max(stem) < min(stages) and max(stages) < min(head) == 1.0
    a_log = model.levels[2].blocks[0].mixer.A_log
    assert next(g for g in groups if any(p is a_log for p in g["params"]))["weight_decay"] == 0
    optimizer = create_optimizer_v2(model, "adamw", lr=1e-3, layer_decay=0.75)
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(grouped)


# -- dropout: timm's head dropout or NVIDIA's per-block dropout -------------------------------


def active_dropouts(net: nn.Module) -> list[str]:
    return [n for n, m in net.named_modules() if isinstance(m, nn.Dropout) and m.p > 0]


def test_head_mode_has_one_dropout_before_the_classifier() -> None:
    net = tiny(drop_rate=0.2)
    assert net.drop_mode == "head"
    assert active_dropouts(net) == ["head_drop"]
    assert active_dropouts(tiny(drop_rate=0.0)) == []


def test_nvidia_mode_drops_in_every_mlp_and_attention_projection() -> None:
    net = tiny(drop_rate=0.2, drop_mode="nvidia", attn_drop_rate=0.1)
    blocks = sum(TINY["depths"][2:])
    attention = sum(len(attention_blocks(d)) for d in TINY["depths"][2:])
    names = active_dropouts(net)
    assert len(names) == 2 * blocks + attention == 10
    assert "head_drop" not in names
    assert all(n.endswith(("mlp.drop1", "mlp.drop2", "mixer.proj_drop")) for n in names)
    assert all(m.p == 0.2 for n, m in net.named_modules() if n in names)
    attentions = [m for m in net.modules() if isinstance(m, Attention)]
    assert len(attentions) == attention and all(m.attn_drop == 0.1 for m in attentions)
    assert all(isinstance(m, Block) for m in net.levels[2].blocks)
    assert active_dropouts(tiny(drop_rate=0.0, drop_mode="nvidia")) == []
    with pytest.raises(ValueError, match="drop_mode"):
        tiny(drop_mode="everywhere")


def test_dropout_mode_changes_neither_weights_nor_eval_outputs(images) -> None:
    nets = [
        tiny(drop_rate=0.0),
        tiny(drop_rate=0.3),
        tiny(drop_rate=0.3, drop_mode="nvidia", attn_drop_rate=0.2),
    ]
    states = [net.state_dict() for net in nets]
    assert all(list(s) == list(states[0]) for s in states)
    for s in states[1:]:
        assert all(torch.equal(s[k], states[0][k]) for k in s)
    with torch.no_grad():
        outputs = [net.eval()(images) for net in nets]
    assert all(torch.equal(o, outputs[0]) for o in outputs[1:])
    nvidia = nets[2].train()
    with torch.no_grad():
        assert not torch.equal(nvidia(images), nvidia(images))  # dropout is live in training


def test_nvidia_mode_keeps_nvidias_checkpoint_layout() -> None:
    with torch.device("meta"):
        net = timm.create_model("mambavision_t", drop_rate=0.2, drop_mode="nvidia")
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == official_layout(**T_SPEC)
    assert isinstance(net, MambaVision)
