"""Linear-probe head initialisation (probe runs, LP-FT) and distillation from a teacher run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import CLASSES, tiny_config
from flipkart_contract import load_metrics
from flipkart_contract.run_tags import EPOCH_TAGS, FINAL_TAGS
from flipkart_torch import augment, distill, probe
from flipkart_torch.config import TrainConfig
from flipkart_torch.data import DataError
from flipkart_torch.train import train
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn


def blobs(n_per_class: int, num_classes: int = 3, dim: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (num_classes, dim))
    x = np.concatenate([rng.normal(c, 1.0, (n_per_class, dim)) for c in centres])
    y = np.repeat(np.arange(num_classes), n_per_class)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y)


def test_fit_logistic_reaches_the_optimum_of_its_objective() -> None:
    x, y = blobs(30)
    l2 = 1e-2
    weight, bias = probe.fit_logistic(x, y, 3, l2)
    w = weight.double().requires_grad_(True)
    b = bias.double().requires_grad_(True)
    loss = F.cross_entropy(x.double() @ w.T + b, y) + 0.5 * l2 * w.pow(2).sum()
    loss.backward()
    # At the minimum the gradient vanishes (the objective is strictly convex in W).
    assert w.grad.abs().max() < 1e-4 and b.grad.abs().max() < 1e-4
    assert ((x @ weight.T + bias).argmax(1) == y).float().mean() > 0.9


def test_stronger_l2_shrinks_the_weights() -> None:
    x, y = blobs(20)
    weak, _ = probe.fit_logistic(x, y, 3, 1e-4)
    strong, _ = probe.fit_logistic(x, y, 3, 1.0)
    assert strong.norm() < weak.norm() / 3


def test_fit_logistic_refuses_mismatched_or_single_class_labels() -> None:
    x, y = blobs(5)
    with pytest.raises(ValueError, match="do not match"):
        probe.fit_logistic(x, y[:-1], 3, 1e-3)
    with pytest.raises(ValueError, match="two classes"):
        probe.fit_logistic(x, torch.zeros(len(x), dtype=torch.long), 3, 1e-3)


def test_fit_probe_keeps_the_l2_with_the_best_val_f1() -> None:
    x, y = blobs(20, seed=1)
    xv, yv = blobs(10, seed=1)  # same centres (same seed), other draws
    xv = xv + torch.randn(xv.shape, generator=torch.Generator().manual_seed(3))
    grid = (1e-4, 1e-2, 1.0, 100.0)
    fit = probe.fit_probe(x, y.numpy(), xv, yv.numpy(), ["a", "b", "c"], grid)
    assert set(fit.grid) == {f"{g:g}" for g in grid}
    assert fit.val_macro_f1 == max(fit.grid.values())
    # Ties go to the strongest regularisation among the best.
    best = [float(k) for k, v in fit.grid.items() if v == fit.val_macro_f1]
    assert fit.l2 == max(best)
    assert fit.record()["l2"] == fit.l2 and "weight" not in fit.record()
    with pytest.raises(ValueError, match="empty"):
        probe.fit_probe(x, y.numpy(), xv, yv.numpy(), ["a", "b", "c"], ())


def test_load_head_checks_the_classifier() -> None:
    x, y = blobs(5, dim=4)
    fit = probe.fit_probe(x, y.numpy(), x, y.numpy(), ["a", "b", "c"], (1e-2,))

    class Net(nn.Module):
        def __init__(self, head: nn.Module) -> None:
            super().__init__()
            self.head = head

        def get_classifier(self) -> nn.Module:
            return self.head

    model = Net(nn.Linear(4, 3))
    probe.load_head(model, fit)
    assert torch.equal(model.head.weight, fit.weight) and torch.equal(model.head.bias, fit.bias)
    with pytest.raises(ValueError, match="does not fit"):
        probe.load_head(Net(nn.Linear(5, 3)), fit)
    with pytest.raises(TypeError, match="linear classifier"):
        probe.load_head(Net(nn.Sequential(nn.Linear(4, 3))), fit)


def test_config_allows_zero_epochs_only_for_a_probe(tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="0 only with head_init probe"):
        tiny_config(tiny_data, tmp_path, epochs=0).check()
    tiny_config(tiny_data, tmp_path, epochs=0, head_init="probe").check()
    with pytest.raises(ValueError, match="head_init"):
        tiny_config(tiny_data, tmp_path, head_init="lstsq").check()
    with pytest.raises(ValueError, match="kd_alpha"):
        tiny_config(tiny_data, tmp_path, kd_alpha=1.5).check()
    with pytest.raises(ValueError, match="kd_temperature"):
        tiny_config(tiny_data, tmp_path, kd_temperature=0).check()


@pytest.fixture(scope="module")
def probe_run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("probe")
    config = tiny_config(
        tiny_data, out, training_mode="freeze", head_init="probe", epochs=0, tta="flip"
    )
    return train(config)


def test_a_probe_run_follows_the_run_contract(probe_run: dict) -> None:
    path = Path(probe_run["run_dir"]) / "metrics.json"
    metrics = load_metrics(path)
    assert metrics.training_mode == "freeze"
    assert metrics.epochs_run == 0 and metrics.best_epoch == 0  # step 0: before any epoch
    record = metrics.config["extra"]["probe"]
    assert set(record) >= {"l2", "val_macro_f1", "val_accuracy", "train_accuracy", "grid"}
    # The head is the probe of flip-averaged features; with flip TTA the logits are the
    # probe's, so the run's validation figure is the probe's.
    assert metrics.final.val.macro_f1 == pytest.approx(record["val_macro_f1"], abs=1e-9)
    assert metrics.wall_time_s >= record["seconds"]  # the probe's fit is part of the run's time
    events = EventAccumulator(probe_run["run_dir"], size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    for tag in (*EPOCH_TAGS, *FINAL_TAGS):
        assert tag in events.Tags()["scalars"], tag
    assert [e.step for e in events.Scalars("val/macro_f1")] == [0]
    assert [e.value for e in events.Scalars("lr")] == [0.0]


def test_lp_ft_starts_from_the_probe_and_keeps_it_when_no_epoch_beats_it(
    tiny_data: Path, tmp_path: Path, probe_run: dict
) -> None:
    config = tiny_config(tiny_data, tmp_path, head_init="probe", epochs=1, lr=0.5, tta="flip")
    result = train(config)
    metrics = json.loads((Path(result["run_dir"]) / "metrics.json").read_text())
    probe_f1 = metrics["config"]["extra"]["probe"]["val_macro_f1"]
    assert metrics["epochs_run"] == 1
    # The best checkpoint is the probe (step 0) unless the epoch beat it on validation.
    final_f1 = metrics["final"]["val"]["macro_f1"]
    if metrics["best_epoch"] == 0:
        assert final_f1 == pytest.approx(probe_f1, abs=1e-9)
    else:
        assert final_f1 > probe_f1


def test_soft_targets_blend_teacher_and_labels() -> None:
    teacher = torch.tensor([[2.0, 0.0, -2.0]])
    hard = torch.tensor([[0.0, 1.0, 0.0]])
    assert torch.equal(distill.soft_targets(teacher, hard, 0.0, 2.0), hard)
    expected = torch.softmax(teacher / 2.0, dim=1)
    assert torch.allclose(distill.soft_targets(teacher, hard, 1.0, 2.0), expected)
    mixed = distill.soft_targets(teacher, hard, 0.5, 2.0)
    assert torch.allclose(mixed.sum(1), torch.ones(1))
    assert torch.allclose(mixed, 0.5 * expected + 0.5 * hard)


def test_teacher_runs_parsing() -> None:
    assert distill.teacher_runs(" a, b ,") == ["a", "b"]
    with pytest.raises(ValueError, match="no run"):
        distill.teacher_runs(" , ")
    with pytest.raises(ValueError, match="twice"):
        distill.teacher_runs("a,a")


@pytest.fixture(scope="module")
def teacher_run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("teacher")
    return train(tiny_config(tiny_data, out, epochs=2, image_size=40, lr=3e-3))


def weights(result: dict) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in result["model"].state_dict().items()}


def test_distillation_changes_only_the_targets(
    tiny_data: Path, tmp_path: Path, teacher_run: dict
) -> None:
    teacher = teacher_run["checkpoint"]  # a best.pt path names a run too
    plain = weights(train(tiny_config(tiny_data, tmp_path / "plain", epochs=1)))
    zero = train(tiny_config(tiny_data, tmp_path / "zero", epochs=1, teacher=teacher, kd_alpha=0))
    full = train(tiny_config(tiny_data, tmp_path / "full", epochs=1, teacher=teacher, kd_alpha=1))
    # kd_alpha 0: the teacher is computed (another image size: its own views) but unused.
    assert all(torch.equal(plain[k], v) for k, v in weights(zero).items())
    assert any(not torch.equal(plain[k], v) for k, v in weights(full).items())
    record = full["metrics"]["config"]["extra"]["teachers"]
    assert record[0]["run_id"] == teacher_run["run_id"] and record[0]["image_size"] == 40


def test_a_teacher_with_other_classes_is_refused(
    tiny_data: Path, tmp_path: Path, teacher_run: dict
) -> None:
    best = torch.load(teacher_run["checkpoint"], weights_only=False)
    best["classes"] = list(reversed(CLASSES))
    other = tmp_path / "other.pt"
    torch.save(best, other)
    with pytest.raises(DataError, match="classes"):
        train(tiny_config(tiny_data, tmp_path / "run", teacher=str(other)))


def test_train_config_round_trips_the_new_options(tiny_data: Path, tmp_path: Path) -> None:
    config = tiny_config(tiny_data, tmp_path, head_init="probe", teacher="x", kd_alpha=0.5)
    from dataclasses import asdict

    assert TrainConfig.from_dict(asdict(config)) == config


def test_a_probe_step_without_tta_is_scored_on_unflipped_views(
    tiny_data: Path, tmp_path: Path
) -> None:
    config = tiny_config(tiny_data, tmp_path, training_mode="freeze", head_init="probe", epochs=0)
    metrics = train(config)["metrics"]
    # No TTA: the best checkpoint's validation figure (a forward pass of the plain views) is the
    # step-0 figure the probe was selected with.
    events = EventAccumulator(
        str(Path(config.runs_dir) / metrics["run_id"]), size_guidance={"scalars": 0}
    )
    events.Reload()
    step0 = events.Scalars("val/macro_f1")[0].value
    assert metrics["final"]["val"]["macro_f1"] == pytest.approx(step0, abs=1e-6)


def test_a_missing_teacher_is_a_clear_error(tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"teacher checkpoint .* not found"):
        train(tiny_config(tiny_data, tmp_path, teacher="20260101-000000_nothing_finetune"))


def test_teacher_logits_are_cached_beside_the_images(
    tiny_data: Path, tmp_path: Path, teacher_run: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flipkart_torch.data import load_split, read_splits
    from flipkart_torch.train import SplitLoader

    config = tiny_config(tiny_data, tmp_path, cache_dir=str(tmp_path / "cache"))
    loader = SplitLoader.open(config, progress=False)
    table = read_splits(tiny_data / "splits.csv")
    student = load_split(table, "train", CLASSES, tiny_data / "images", teacher_run_policy())
    first, records = distill.teacher_logits(
        teacher_run["checkpoint"], table, CLASSES, student, loader.options
    )
    assert first.shape == (len(student.labels), len(CLASSES)) and len(records) == 1

    def no_recompute(*args, **kwargs):
        raise AssertionError("the cached teacher logits were not used")

    monkeypatch.setattr(distill, "_teacher_logits", no_recompute)
    again, records_again = distill.teacher_logits(
        teacher_run["checkpoint"], table, CLASSES, student, loader.options
    )
    assert np.array_equal(first, again) and records_again == records


def teacher_run_policy():
    from flipkart_contract import ResizePolicy

    return ResizePolicy(method="pad", size=32, interpolation="bicubic", crop_pct=1.0)


def test_probe_views_need_a_probe_and_a_count(tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="probe_views"):
        tiny_config(tiny_data, tmp_path, probe_views=2).check()  # no probe to fit them
    with pytest.raises(ValueError, match="probe_views"):
        tiny_config(tiny_data, tmp_path, head_init="probe", probe_views=-1).check()
    tiny_config(tiny_data, tmp_path, head_init="probe", probe_views=2).check()


def test_augmented_features_are_seeded_copies_of_each_image() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(8 * 8 * 3, 5))
    model.forward_features = lambda x: x  # the PreLogits protocol of a timm classifier
    model.forward_head = lambda x, pre_logits: model(x)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    args = (model, images, (0.5,) * 3, (0.25,) * 3, torch.device("cpu"))
    cfg = augment.recipe("catalogue")
    first = probe.augmented_features(*args, cfg, views=3, seed=7)
    again = probe.augmented_features(*args, cfg, views=3, seed=7)
    other = probe.augmented_features(*args, cfg, views=3, seed=8)
    assert len(first) == 3 and all(f.shape == (10, 5) for f in first)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))  # seeded
    assert not torch.equal(first[0], other[0])
    assert not torch.equal(first[0], first[1])  # each copy draws anew
    plain = probe.pooled_features(*args, flip=False)
    assert not torch.equal(first[0], plain)  # copies, not the plain views


def test_a_probe_with_views_fits_them_and_records_them(tiny_data: Path, tmp_path: Path) -> None:
    config = tiny_config(
        tiny_data, tmp_path, training_mode="freeze", head_init="probe", epochs=0, tta="flip",
        probe_views=2, augment="catalogue",
    )  # fmt: skip
    metrics = train(config)["metrics"]
    record = metrics["config"]["extra"]["probe"]
    assert record["views"] == 2 and record["augment"] == "catalogue"
    assert metrics["config"]["probe_views"] == 2
    # validation still scores the clean flip-averaged views with the fitted head
    assert metrics["final"]["val"]["macro_f1"] == pytest.approx(record["val_macro_f1"], abs=1e-9)
