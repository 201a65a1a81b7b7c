"""Batched augmentation: shapes, ranges, determinism, what each ingredient does, mixing."""

import numpy as np
import pytest
import torch
from flipkart_torch.augment import (
    RECIPES,
    AugmentConfig,
    augment_batch,
    mix,
    near_white,
    one_hot,
    recipe,
    soft_cross_entropy,
)

OFF = AugmentConfig(area=(1.0, 1.0), ratio=(1.0, 1.0), hflip=0.0, brightness=0.0, contrast=0.0)


def product_batch(n: int = 6, size: int = 64) -> torch.Tensor:
    """Products (coloured squares) on white, like the catalogue photos."""
    x = torch.full((n, size, size, 3), 255, dtype=torch.uint8)
    x[:, 16:48, 16:48] = torch.tensor([30, 90, 160], dtype=torch.uint8)
    return x


def run(cfg: AugmentConfig, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    return augment_batch(x, cfg, torch.Generator().manual_seed(seed), np.random.default_rng(seed))


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipes_keep_shape_and_range_and_are_deterministic(name):
    x = product_batch()
    out = run(recipe(name), x)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert float(out.min()) >= 0 and float(out.max()) <= 255
    assert torch.equal(out, run(recipe(name), x))
    assert not torch.equal(out, run(recipe(name), x, seed=1))


def test_identity_settings_change_nothing():
    x = product_batch()
    assert torch.allclose(run(OFF, x), x.float(), atol=1e-3)


def test_flip_mirrors_the_image():
    x = product_batch(2)
    x[:, :, :8] = 0  # a dark band on the left
    out = run(OFF.__class__(**{**OFF.as_dict(), "hflip": 1.0}), x)
    assert float(out[:, :, -8:].mean()) < 1 and float(out[:, :, :8].mean()) > 250


def test_background_replaces_only_the_near_white_pixels():
    x = product_batch()
    out = run(OFF.__class__(**{**OFF.as_dict(), "background": 1.0}), x)
    product = out[:, 20:44, 20:44]
    assert torch.allclose(product, torch.tensor([30.0, 90.0, 160.0]).expand_as(product), atol=1e-3)
    assert float((out[:, :8, :8] - 255).abs().mean()) > 10


def test_greyscale_removes_colour():
    cfg = AugmentConfig(area=(1, 1), ratio=(1, 1), hflip=0, brightness=0, contrast=0, greyscale=1)
    out = run(cfg, product_batch())
    assert float((out[..., 0] - out[..., 2]).abs().max()) < 1e-3


def test_crop_zooms_in():
    cfg = AugmentConfig(area=(0.25, 0.25), ratio=(1, 1), hflip=0, brightness=0, contrast=0)
    x = product_batch(8)
    out = run(cfg, x)
    # The product (a quarter of the area) now covers more of the view on average.
    coloured = (out[..., 0] < 128).float().mean()
    assert float(coloured) > float((x[..., 0] < 128).float().mean())


def test_erasing_and_blur_and_downscale_run_on_subsets():
    cfg = AugmentConfig(erasing=1.0, blur=1.0, downscale=1.0)
    out = run(cfg, product_batch())
    assert out.shape == (6, 64, 64, 3)


def test_near_white_mask():
    x = product_batch(1).permute(0, 3, 1, 2).float()
    mask = near_white(x)
    assert mask.shape == (1, 1, 64, 64)
    assert bool(mask[0, 0, 0, 0]) and not bool(mask[0, 0, 32, 32])


def test_unknown_recipe():
    with pytest.raises(ValueError, match="unknown augmentation recipe"):
        recipe("heavy")


def test_mix_gives_soft_targets_that_sum_to_one():
    x = product_batch(4).float()
    x[2:] = 0
    targets = one_hot(torch.tensor([0, 1, 2, 3]), 5, smoothing=0.1)
    assert torch.allclose(targets.sum(1), torch.ones(4))
    for seed in range(20):
        mixed, soft = mix(x, targets, np.random.default_rng(seed), prob=1.0)
        assert mixed.shape == x.shape
        assert torch.allclose(soft.sum(1), torch.ones(4), atol=1e-6)
        # Image 0 is paired with image 3: its target puts weight on class 3 unless lam == 1.
        share = float(soft[0, 3] - targets[0, 3])
        changed = float((mixed[0] - x[0]).abs().sum()) > 0
        assert (share > 1e-6) == changed


def test_mix_with_prob_zero_is_identity():
    x = product_batch(4).float()
    targets = one_hot(torch.tensor([0, 1, 2, 3]), 5)
    mixed, soft = mix(x, targets, np.random.default_rng(0), prob=0.0)
    assert mixed is x and soft is targets


def test_soft_cross_entropy_equals_cross_entropy_on_hard_targets():
    logits = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 3, 1, 2, 2])
    expected = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)
    got = soft_cross_entropy(logits, one_hot(labels, 4, smoothing=0.1))
    assert torch.allclose(got, expected, atol=1e-6)


def test_train_options_reach_the_config():
    from flipkart_torch.cli import build_parser, train_config

    args = build_parser().parse_args(
        ["train", "--architecture", "efficientnet_lite0", "--augment", "catalogue",
         "--mix-prob", "0.5", "--backbone-lr-mult", "0.3"]
    )  # fmt: skip
    config = train_config(args)
    assert (config.augment, config.mix_prob, config.backbone_lr_mult) == ("catalogue", 0.5, 0.3)
    config.check()
    bad = train_config(
        build_parser().parse_args(["train", "--architecture", "x", "--mix-prob", "2"])
    )
    with pytest.raises(ValueError, match="mix_prob"):
        bad.check()


def test_backbone_learning_rate_multiplier():
    from flipkart_torch.config import TrainConfig
    from flipkart_torch.optim import Optimisation

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    model.get_classifier = lambda: model[1]
    config = TrainConfig(architecture="x", lr=1e-3, backbone_lr_mult=0.25, warmup_epochs=0)
    optimisation = Optimisation(model, config, steps_per_epoch=10, device=torch.device("cpu"))
    head, backbone = optimisation.optimizer.param_groups
    assert head["params"] == list(model[1].parameters())
    assert backbone["lr"] == pytest.approx(head["lr"] * 0.25)
    assert optimisation.lr == head["lr"]


def test_flip_tta_averages_the_mirror_in_evaluation_and_in_the_export_wrapper():
    from flipkart_torch.evaluation import predict
    from flipkart_torch.export import PixelsModel

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 2, 3), torch.nn.Flatten(), torch.nn.LazyLinear(3)
    )
    images = product_batch(2, 16).numpy()
    images[:, :, :4] = 0  # asymmetric, so the mirror changes the logits
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    plain = predict(model, images, mean, std, torch.device("cpu"))
    mirrored = predict(model, images[:, :, ::-1].copy(), mean, std, torch.device("cpu"))
    flip = predict(model, images, mean, std, torch.device("cpu"), tta="flip")
    assert np.allclose(flip, (plain + mirrored) / 2, atol=1e-5)
    assert not np.allclose(flip, plain)
    wrapper = PixelsModel(model, mean, std, tta="flip").eval()
    with torch.no_grad():
        graph = wrapper(torch.from_numpy(images).float()).numpy()
    assert np.allclose(graph, flip, atol=1e-4)
    with pytest.raises(ValueError, match="tta"):
        predict(model, images, mean, std, torch.device("cpu"), tta="five_crop")
