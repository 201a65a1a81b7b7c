"""A real (tiny) training run: every contract tag, a valid metrics.json, export parity, CLI."""

import glob
import json

import numpy as np
import onnx
import pytest
from flipkart_contract import load_card, load_metrics, parse_run_id, sha256_file
from flipkart_contract.run_tags import EPOCH_TAGS, FINAL_TAGS
from flipkart_contract.testing import metrics_dict
from flipkart_tf import cli, export
from flipkart_tf.evaluate import evaluate_run
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader


def read_events(run_dir):
    """tag → list of (step, plugin name)."""
    tags: dict[str, list] = {}
    for path in glob.glob(str(run_dir / "events.out.tfevents.*")):
        for event in EventFileLoader(path).Load():
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                tags.setdefault(value.tag, []).append((event.step, plugin))
    return tags


def test_every_contract_tag_is_in_the_event_file(tiny_run) -> None:
    tags = read_events(tiny_run["run_dir"])
    metrics = json.loads((tiny_run["run_dir"] / "metrics.json").read_text())
    epochs = metrics["epochs_run"]
    for tag in EPOCH_TAGS:
        assert tags[tag] == [(e, "scalars") for e in range(1, epochs + 1)], tag
    for tag in FINAL_TAGS:
        assert tags[tag] == [(epochs, "scalars")], tag
    assert tags["test/classification_report"] == [(epochs, "text")]
    assert tags["test/confusion_matrix"] == [(epochs, "images")]
    assert any(plugin == "hparams" for values in tags.values() for _, plugin in values)
    assert not any(tag.startswith("epoch_") for tag in tags)  # no Keras default names


def test_metrics_json_follows_the_contract(tiny_run) -> None:
    run_dir = tiny_run["run_dir"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    typed = load_metrics(run_dir / "metrics.json")  # the contract's schema validates it
    assert typed.model_dump(mode="json", exclude_none=True) == metrics  # written by the model
    assert metrics["schema_version"] == 2
    assert metrics["run_id"] == run_dir.name
    assert parse_run_id(metrics["run_id"])[1:] == ("tiny_cnn", "finetune")
    assert (metrics["architecture"], metrics["training_mode"]) == ("tiny_cnn", "finetune")
    assert metrics["framework"] == "tensorflow"
    assert metrics["classes"] == sorted(metrics["classes"]) and len(metrics["classes"]) == 7
    config = metrics["config"]
    assert config["image_size"] == 32 and config["resize_method"] == "pad"
    assert (config["architecture"], config["training_mode"]) == ("tiny_cnn", "finetune")
    assert not {"model", "mode", "resize_mode"} & set(config)  # one vocabulary
    assert set(metrics["hardware"]) >= {"device", "device_name", "num_threads", "gpus"}
    assert metrics["weights_source"] == "none"
    assert metrics["data"]["splits_sha256"] == sha256_file(tiny_run["csv"])
    assert metrics["data"]["skipped_images"] == ["corrupt.jpg"]
    assert (metrics["data"]["num_train"], metrics["data"]["num_val"]) == (21, 7)
    assert metrics["data"]["num_test"] == 14
    assert 1 <= metrics["best_epoch"] <= metrics["epochs_run"] <= 2
    test = metrics["final"]["test"]
    matrix = np.array(test["confusion_matrix"])
    assert matrix.shape == (7, 7) and matrix.sum() == test["num_images"] == 14
    assert test["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert set(test["per_class"]) == set(metrics["classes"])
    assert metrics["final"]["perf"]["train_images_per_s"] > 0
    assert metrics["wall_time_s"] > 0 and metrics["created_at"].endswith("Z")


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    out = export.export_run(
        tiny_run["run_dir"],
        models_dir=models,
        splits_csv=tiny_run["csv"],
        images_dir=tiny_run["config"].images_dir,
    )
    return out


def test_export_writes_a_model_and_card_that_agree(exported, tiny_run) -> None:
    card = json.loads((exported / "card.json").read_text())
    typed = load_card(exported / "card.json")  # the contract's schema validates it
    assert typed.model_dump(mode="json", exclude_none=True) == card
    assert card["schema_version"] == 2 and card["framework"] == "tensorflow"
    assert (card["architecture"], card["training_mode"]) == ("tiny_cnn", "finetune")
    metrics = json.loads((tiny_run["run_dir"] / "metrics.json").read_text())
    assert card["run_id"] == metrics["run_id"] == exported.name
    assert card["onnx"]["sha256"] == sha256_file(exported / "model.onnx")
    assert card["onnx"]["bytes"] == (exported / "model.onnx").stat().st_size
    assert card["parity"]["max_abs_logit_diff"] <= 1e-3
    assert card["parity"]["top1_agreement"] == 1.0 and card["parity"]["num_images"] == 14
    assert card["resize_policy"] == {
        "method": "pad",
        "size": 32,
        "interpolation": "bicubic",
        "crop_pct": 1.0,
        "pad_color": [255, 255, 255],
    }
    # layout NHWC, float32, values 0-255: fixed by the contract's InputSpec (load_card above)
    shape = {k: card["input"][k] for k in ("name", "height", "width")}
    assert shape == {"name": "pixels", "height": 32, "width": 32}
    test = {k: v for k, v in metrics["final"]["test"].items() if k != "loss"}
    assert card["metrics"]["test"] == test
    assert card["latency_ms"]["batch_1"] > 0 and card["latency_ms"]["batch_16_per_image"] > 0
    assert card["latency_ms"]["threads"] == 2 and card["latency_ms"]["hardware"]
    graph = onnx.load(str(exported / "model.onnx")).graph
    assert [i.name for i in graph.input] == ["pixels"]
    assert [o.name for o in graph.output] == ["logits"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_onnx_scores_the_test_split_like_keras(exported, tiny_run) -> None:
    kwargs = {"splits_csv": tiny_run["csv"], "images_dir": tiny_run["config"].images_dir}
    keras_summary = evaluate_run(tiny_run["run_dir"], "test", **kwargs)
    onnx_summary = evaluate_run(tiny_run["run_dir"], "test", exported / "model.onnx", **kwargs)
    assert (onnx_summary.source, keras_summary.source) == ("onnx", "keras")
    assert onnx_summary.metrics.confusion_matrix == keras_summary.metrics.confusion_matrix
    metrics = load_metrics(tiny_run["run_dir"] / "metrics.json")
    assert keras_summary.metrics.confusion_matrix == metrics.final.test.confusion_matrix


def test_failed_parity_writes_no_card(tiny_run, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(export, "MAX_ABS_LOGIT_DIFF", -1.0)
    with pytest.raises(export.ExportError, match="parity failed"):
        export.export_run(
            tiny_run["run_dir"],
            models_dir=tmp_path,
            splits_csv=tiny_run["csv"],
            images_dir=tiny_run["config"].images_dir,
        )
    assert list(tmp_path.iterdir()) == []


def test_cli_reports_bad_input_without_a_traceback(tmp_path, capsys) -> None:
    rc = cli.main(["train", "--splits-csv", str(tmp_path / "splits.csv")])
    assert rc == 2 and "make data" in capsys.readouterr().err
    rc = cli.main(["export", str(tmp_path / "no-run")])
    assert rc == 2 and "metrics.json" in capsys.readouterr().err


def test_cli_unknown_model(split_dir, tmp_path, capsys) -> None:
    rc = cli.main(
        [
            "train",
            "--model",
            "resnet9000",
            "--splits-csv",
            str(split_dir / "splits.csv"),
            "--images-dir",
            str(split_dir / "images"),
            "--runs-dir",
            str(tmp_path),
        ]
    )
    assert rc == 2 and "unknown architecture 'resnet9000'" in capsys.readouterr().err


def test_cli_new_words_are_primary_and_old_flags_still_work() -> None:
    parser = cli.build_parser()
    old = parser.parse_args(["train", "--model", "tiny_cnn", "--mode", "freeze"])
    new = parser.parse_args(
        [
            "train",
            "--architecture",
            "tiny_cnn",
            "--training-mode",
            "freeze",
            "--resize-method",
            "crop",
        ]
    )
    assert (old.architecture, old.training_mode, old.resize_method) == ("tiny_cnn", "freeze", "pad")
    assert (new.architecture, new.training_mode, new.resize_method) == (
        "tiny_cnn",
        "freeze",
        "crop",
    )
    assert parser.parse_args(["train", "--resize-mode", "crop"]).resize_method == "crop"


def test_a_version_1_run_is_still_read_for_export(tmp_path) -> None:
    """Runs written before schema 2 (`model`, `mode`, config `resize_mode`) still export."""
    v1 = metrics_dict("20261123-100122_efficientnet_b0_finetune", framework="tensorflow")
    for old, new in (("model", "architecture"), ("mode", "training_mode")):
        v1[old] = v1.pop(new)
    v1["schema_version"] = 1
    v1["config"] = {
        "image_size": 128,
        "resize_mode": "crop",
        "interpolation": "bilinear",
        "crop_pct": 0.875,
        "pad_color": [1, 2, 3],
    }
    run_dir = tmp_path / v1["run_id"]
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text(json.dumps(v1))
    _, metrics = export.load_run(run_dir)
    assert (metrics.architecture, metrics.training_mode) == ("efficientnet_b0", "finetune")
    policy = export.policy_of(metrics)
    assert (policy.method, policy.size, policy.interpolation) == ("crop", 128, "bilinear")
    assert (policy.crop_pct, policy.pad_color) == (0.875, (1, 2, 3))
    with pytest.raises(export.ExportError, match="names no checkpoint"):
        export.restore_model(metrics)


def test_cli_evaluates_and_exports_a_run(tiny_run, tmp_path, capsys) -> None:
    data = ["--splits-csv", str(tiny_run["csv"]), "--images-dir", tiny_run["config"].images_dir]
    assert cli.main(["evaluate", str(tiny_run["run_dir"]), *data]) == 0
    out = capsys.readouterr().out
    assert out.startswith("keras on test:") and "macro avg" in out
    rc = cli.main(["export", str(tiny_run["run_dir"]), "--models-dir", str(tmp_path), *data])
    assert rc == 0 and capsys.readouterr().out.strip() == str(tmp_path / tiny_run["run_dir"].name)
    assert load_card(tmp_path / tiny_run["run_dir"].name / "card.json").latency_ms.threads == 2
