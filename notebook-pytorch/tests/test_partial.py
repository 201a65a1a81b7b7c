"""Partial fine-tuning on cached activations (partial.py) and layer-wise learning-rate decay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from conftest import TINY_MODEL, tiny_config
from flipkart_contract import load_metrics
from flipkart_torch import partial
from flipkart_torch.augment import recipe
from flipkart_torch.config import TrainConfig
from flipkart_torch.optim import parameter_groups
from flipkart_torch.train import train
from test_mambavision_timm_api import TINY as TINY_MAMBAVISION
from torch import nn


def tiny_model(num_classes: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return timm.create_model(TINY_MODEL, num_classes=num_classes).eval()


@pytest.mark.parametrize("stages", [1, 2, 5])
def test_bottom_then_top_is_the_whole_model(stages: int) -> None:
    model = tiny_model()
    split = partial.split_model(model, stages)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(split.logits(split.bottom(x)), model(x), atol=1e-6)
    assert split.stages == len(model.blocks)


def test_split_refuses_a_bad_stage_count_or_a_model_without_stages() -> None:
    with pytest.raises(ValueError, match="between 1 and the model's 5 stages"):
        partial.split_model(tiny_model(), 6)
    with pytest.raises(ValueError, match="between 1"):
        partial.split_model(tiny_model(), 0)
    with pytest.raises(ValueError, match="neither"):
        partial.split_model(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)), 1)


def test_a_mambavision_splits_at_its_levels() -> None:
    torch.manual_seed(0)
    model = timm.create_model("mambavision_t", num_classes=3, **TINY_MAMBAVISION).eval()
    split = partial.split_model(model, 2)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(split.logits(split.bottom(x)), model(x), atol=1e-5)


def test_training_views_are_plain_mirrored_then_seeded_copies() -> None:
    images = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    views = partial.training_views(images, recipe("basic"), 2, seed=3, device=torch.device("cpu"))
    assert views.shape == (4, 4, 16, 16, 3) and views.dtype == np.uint8
    assert np.array_equal(views[0], images)
    assert np.array_equal(views[1], images[:, :, ::-1])
    assert not np.array_equal(views[2], views[3])  # two different draws
    again = partial.training_views(images, recipe("basic"), 2, seed=3, device=torch.device("cpu"))
    assert np.array_equal(views, again)


def test_a_batch_takes_the_teacher_logits_of_the_view_it_shows() -> None:
    views, n = 3, 5
    # activation [v, i] and teacher logits [v, i] both encode (view, image)
    code = torch.arange(views)[:, None] * 100 + torch.arange(n)[None, :]
    cached = partial.CachedViews(
        train=code[:, :, None].float(),
        val=torch.zeros(2, 1),
        val_mirrored=torch.zeros(2, 1),
        teacher=code[:, :, None].float().repeat(1, 1, 7),
    )
    index = torch.tensor([4, 0, 2, 2])
    inputs, teacher = cached.batch(index, torch.Generator().manual_seed(0))
    assert torch.equal(inputs[:, 0] % 100, index.float())
    assert torch.equal(teacher[:, 0], inputs[:, 0])


def test_config_refuses_partial_options_that_cannot_work(tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs trainable_stages"):
        tiny_config(tiny_data, tmp_path, cached_views=2).check()
    with pytest.raises(ValueError, match="training_mode finetune"):
        tiny_config(tiny_data, tmp_path, training_mode="freeze", trainable_stages=1).check()
    with pytest.raises(ValueError, match="mix_prob 0"):
        tiny_config(tiny_data, tmp_path, trainable_stages=1, mix_prob=0.5).check()
    with pytest.raises(ValueError, match="layer_decay"):
        tiny_config(tiny_data, tmp_path, layer_decay=0).check()
    with pytest.raises(ValueError, match="negative"):
        tiny_config(tiny_data, tmp_path, trainable_stages=-1).check()


def frozen_and_top(model: nn.Module, stages: int) -> tuple[dict, dict]:
    split = partial.split_model(model, stages)
    frozen_ids = {id(p) for m in split.bottom_modules for p in m.parameters()}
    state = {n: p.detach().clone() for n, p in model.named_parameters()}
    frozen = {n: v for n, v in state.items() if id(dict(model.named_parameters())[n]) in frozen_ids}
    top = {n: v for n, v in state.items() if n not in frozen}
    return frozen, top


def test_a_partial_run_trains_the_top_only_and_follows_the_run_contract(
    tiny_data: Path, tmp_path: Path
) -> None:
    config = tiny_config(
        tiny_data, tmp_path, trainable_stages=2, cached_views=2, epochs=2, lr=3e-3, seed=1
    )
    torch.manual_seed(config.seed)
    start = timm.create_model(TINY_MODEL, num_classes=3, drop_rate=config.drop_rate)
    frozen_before, top_before = frozen_and_top(start, 2)
    result = train(config)
    frozen_after, top_after = frozen_and_top(result["model"], 2)
    assert all(torch.equal(frozen_before[k], v) for k, v in frozen_after.items())
    assert any(not torch.equal(top_before[k], v) for k, v in top_after.items())
    # BatchNorm statistics are the starting ones everywhere (the model trains in eval mode).
    for name, buffer in result["model"].state_dict().items():
        if name.endswith("running_mean"):
            assert torch.equal(buffer, start.state_dict()[name]), name
    metrics = load_metrics(Path(result["run_dir"]) / "metrics.json")
    record = metrics.config["extra"]["partial"]
    assert record["trainable_stages"] == 2 and record["stages"] == 5 and record["views"] == 4
    assert 0 < record["trainable_parameters"] < sum(p.numel() for p in start.parameters())
    assert metrics.epochs_run == 2
    # Validation on cached activations is the whole model's: the best epoch's cached figure
    # is what the saved best checkpoint scores through the full network.
    best = max(result["history"], key=lambda h: h["val/macro_f1"])
    assert best["val/macro_f1"] == pytest.approx(metrics.final.val.macro_f1, abs=1e-9)
    assert best["val/loss"] == pytest.approx(metrics.final.val.loss, rel=1e-4)


def test_a_partial_run_with_a_teacher_scores_the_cached_views(
    tiny_data: Path, tmp_path: Path
) -> None:
    teacher = train(tiny_config(tiny_data, tmp_path / "teacher", epochs=1, image_size=40))
    config = tiny_config(
        tiny_data, tmp_path / "student", trainable_stages=1, cached_views=1,
        teacher=teacher["checkpoint"], kd_alpha=1.0,
    )  # fmt: skip
    result = train(config)
    record = result["metrics"]["config"]["extra"]["teachers"][0]
    assert record["run_id"] == teacher["run_id"] and record["image_size"] == 40
    assert "resized" in record["views"]


def test_layer_decay_scales_each_group_below_the_head() -> None:
    model = tiny_model()
    config = TrainConfig(architecture=TINY_MODEL, lr=1.0, layer_decay=0.5)
    groups = parameter_groups(model, config)
    head = {id(p) for p in model.get_classifier().parameters()}
    assert {id(p) for p in groups[0]["params"]} == head and groups[0]["lr"] == 1.0
    seen = [id(p) for g in groups for p in g["params"]]
    assert sorted(seen) == sorted(id(p) for p in model.parameters())  # each exactly once
    stem = {id(p) for p in model.conv_stem.parameters()}
    stem_lr = {g["lr"] for g in groups if stem & {id(p) for p in g["params"]}}
    last = {id(p) for p in model.bn2.parameters()}
    deepest = {g["lr"] for g in groups if last & {id(p) for p in g["params"]}}
    assert stem_lr == {min(g["lr"] for g in groups)}
    assert max(deepest) < 1.0 and min(stem_lr) < max(deepest)
    # every rate is a power of the decay
    for group in groups:
        power = np.log(group["lr"]) / np.log(0.5)
        assert power == pytest.approx(round(power), abs=1e-9)
    # no decay: two groups, the backbone at lr x backbone_lr_mult
    no_decay = TrainConfig(architecture=TINY_MODEL, lr=1.0, backbone_lr_mult=0.3)
    plain = parameter_groups(model, no_decay)
    assert [g["lr"] for g in plain] == [1.0, 0.3]


def test_layer_decay_needs_a_group_matcher() -> None:
    model = nn.Sequential(nn.Linear(3, 3))
    model.get_classifier = lambda: model[0]  # a classifier, but no group_matcher
    with pytest.raises(ValueError, match="group_matcher"):
        parameter_groups(model, TrainConfig(architecture=TINY_MODEL, layer_decay=0.7))
