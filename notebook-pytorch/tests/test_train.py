"""The training pipeline on a tiny synthetic split: run contract, determinism, freeze, resume."""

from __future__ import annotations

import json
from pathlib import Path

import flipkart_torch.train as train_module
import pytest
import torch
from conftest import CLASSES, TINY_MODEL, tiny_config, tiny_run_id
from flipkart_contract import load_metrics
from flipkart_contract.run_tags import EPOCH_TAGS, FINAL_TAGS
from flipkart_torch.config import TrainConfig
from flipkart_torch.train import train
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


@pytest.fixture(scope="module")
def one_epoch_run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("run")
    return train(tiny_config(tiny_data, out, ema_decay=0.9, accum_steps=2, batch_size=3))


def test_one_epoch_writes_every_tag_of_the_run_contract(one_epoch_run: dict) -> None:
    events = EventAccumulator(one_epoch_run["run_dir"], size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    tags = events.Tags()
    for tag in (*EPOCH_TAGS, *FINAL_TAGS):
        assert tag in tags["scalars"], tag
    assert "test/confusion_matrix" in tags["images"]
    assert "test/classification_report/text_summary" in tags["tensors"]
    report = events.Tensors("test/classification_report/text_summary")[0]
    assert b"Circles" in report.tensor_proto.string_val[0]
    plugins = events.PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in plugins
    # Steps count epochs from 1, as in the TensorFlow lab; the final figures sit on the last.
    assert [e.step for e in events.Scalars("val/accuracy")] == [1]
    assert [e.step for e in events.Scalars("test/accuracy")] == [1]


def test_metrics_json_follows_the_contract(one_epoch_run: dict) -> None:
    path = Path(one_epoch_run["run_dir"]) / "metrics.json"
    load_metrics(path)  # the contract's RunMetrics validates it
    metrics = json.loads(path.read_text())
    assert metrics == one_epoch_run["metrics"]
    assert metrics["schema_version"] == 2
    assert metrics["framework"] == "pytorch"
    assert metrics["architecture"] == TINY_MODEL and metrics["training_mode"] == "finetune"
    assert metrics["run_id"].endswith("_test_efficientnet_finetune")
    assert Path(one_epoch_run["run_dir"]).name == metrics["run_id"]
    assert metrics["classes"] == CLASSES
    assert metrics["weights_source"] == "none"
    config = metrics["config"]
    assert config["ema_decay"] == 0.9 and config["image_size"] == 32
    assert config["drop_rate"] == 0.2 and config["drop_mode"] == "head"
    assert config["architecture"] == TINY_MODEL and config["timm_name"] == TINY_MODEL
    assert config["resize_policy"]["method"] == config["resize_method"] == "pad"
    assert config["resize_policy"]["size"] == 32
    assert metrics["hardware"]["device"] == "cpu" and metrics["hardware"]["num_threads"] >= 1
    assert metrics["data"]["num_train"] == 18 and len(metrics["data"]["splits_sha256"]) == 64
    assert metrics["epochs_run"] == 1 and metrics["best_epoch"] == 1  # counted from 1
    assert metrics["budget"] and metrics["wall_time_s"] > 0
    test = metrics["final"]["test"]
    assert test["num_images"] == 9
    assert set(test["per_class"]) == set(CLASSES)
    assert sum(map(sum, test["confusion_matrix"])) == 9
    correct = sum(test["confusion_matrix"][i][i] for i in range(3))
    assert test["accuracy"] == pytest.approx(correct / 9)
    assert 0 <= metrics["final"]["val"]["macro_f1"] <= 1
    assert metrics["final"]["perf"]["train_images_per_s"] > 0


def final_weights(result: dict) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in result["model"].state_dict().items()}


def test_same_seed_same_weights_on_cpu(tiny_data: Path, tmp_path: Path) -> None:
    a = final_weights(train(tiny_config(tiny_data, tmp_path / "a", epochs=2)))
    b = final_weights(train(tiny_config(tiny_data, tmp_path / "b", epochs=2)))
    c = final_weights(train(tiny_config(tiny_data, tmp_path / "c", epochs=2, seed=1)))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_freeze_trains_only_the_head(tiny_data: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    from flipkart_torch.models.factory import create_model

    start = create_model("test_efficientnet", num_classes=3, drop_rate=0.2).state_dict()
    result = train(tiny_config(tiny_data, tmp_path, training_mode="freeze", lr=1e-2))
    end = result["model"].state_dict()
    for key, value in start.items():
        if key.startswith("classifier."):
            assert not torch.equal(value, end[key]), key
        else:
            assert torch.equal(value, end[key]), key  # weights and BatchNorm statistics


def test_early_stopping_on_val_macro_f1(tiny_data: Path, tmp_path: Path) -> None:
    config = tiny_config(tiny_data, tmp_path, training_mode="freeze", epochs=6, lr=0.0, patience=2)
    result = train(config)  # nothing changes: val macro-F1 never improves after epoch 0
    assert result["metrics"]["epochs_run"] == 3  # epoch 0 is best, two more without improvement


def test_resume_after_an_interruption_ends_where_an_uninterrupted_run_ends(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = final_weights(
        train(tiny_config(tiny_data, tmp_path / "ref", epochs=3, run_id=tiny_run_id(second=1)))
    )

    calls = {"n": 0}
    real_evaluate = train_module.evaluate

    def interrupt_in_second_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    cut = tiny_run_id(second=2)
    config = tiny_config(tiny_data, tmp_path / "cut", epochs=3, run_id=cut)
    monkeypatch.setattr(train_module, "evaluate", interrupt_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(config)
    monkeypatch.setattr(train_module, "evaluate", real_evaluate)
    resumed = train(tiny_config(tiny_data, tmp_path / "cut", epochs=3), resume=cut)
    assert resumed["run_id"] == cut
    assert resumed["metrics"]["epochs_run"] == 3
    events = EventAccumulator(resumed["run_dir"])
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3]  # none twice
    weights = final_weights(resumed)
    for key in reference:
        torch.testing.assert_close(weights[key], reference[key], rtol=0, atol=1e-6)


def test_resume_without_a_checkpoint_says_so(tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(tiny_config(tiny_data, tmp_path), resume=True)


def test_bad_training_mode_resize_method_or_run_id_is_refused(
    tiny_data: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="training_mode"):
        train(tiny_config(tiny_data, tmp_path, training_mode="partial"))
    with pytest.raises(ValueError, match="resize_method"):
        train(tiny_config(tiny_data, tmp_path, resize_method="stretch"))
    with pytest.raises(ValueError, match="not a run id"):
        train(tiny_config(tiny_data, tmp_path, run_id="my run"))
    assert not (tmp_path / "runs").exists()  # refused before anything was written


def test_a_config_saved_with_the_old_key_names_still_loads() -> None:
    old = {"model": TINY_MODEL, "mode": "freeze", "resize_mode": "crop", "epochs": 2}
    config = TrainConfig.from_dict(old)
    assert (config.architecture, config.training_mode, config.resize_method) == (
        TINY_MODEL,
        "freeze",
        "crop",
    )
    assert config.epochs == 2
    assert config.drop_mode == "head"  # saved before drop_mode existed: timm's head dropout


def test_drop_mode_reaches_mambavision_and_is_refused_elsewhere(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="drop_mode 'nvidia' is MambaVision's"):
        train(tiny_config(tiny_data, tmp_path, drop_mode="nvidia"))
    with pytest.raises(ValueError, match="drop_mode must be one of"):
        train(tiny_config(tiny_data, tmp_path, drop_mode="blocks"))
    assert not (tmp_path / "runs").exists()

    calls = []
    real_create = train_module.create_model

    def create(architecture, num_classes, **kwargs):  # records, builds the tiny model
        calls.append((architecture, dict(kwargs)))
        kwargs.pop("drop_mode", None)
        return real_create(TINY_MODEL, num_classes, **kwargs)

    monkeypatch.setattr(train_module, "create_model", create)
    for mode in ("nvidia", "head"):
        config = tiny_config(tiny_data, tmp_path, architecture="mambavision_t", drop_mode=mode)
        config.check()
        train_module.build_model(config, 3, torch.device("cpu"))
    assert calls[0] == (
        "mambavision_t",
        {"pretrained": False, "weights": None, "drop_rate": 0.2, "drop_mode": "nvidia"},
    )
    assert "drop_mode" not in calls[1][1]  # head: what every timm model takes by default
