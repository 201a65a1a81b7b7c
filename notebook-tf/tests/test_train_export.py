"""A real (tiny) training run: every contract tag, a valid metrics.json, export parity, CLI."""

import glob
import json

import numpy as np
import onnx
import pytest
from flipkart_tf import cli, export
from flipkart_tf.data import file_sha256
from flipkart_tf.evaluate import evaluate_run
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

PER_EPOCH = [
    "train/loss",
    "train/accuracy",
    "val/loss",
    "val/accuracy",
    "val/macro_f1",
    "lr",
    "perf/train_images_per_s",
    "perf/epoch_s",
]
AT_END = ["test/accuracy", "test/macro_f1", "perf/test_ms_per_image"]


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
    for tag in PER_EPOCH:
        assert tags[tag] == [(e, "scalars") for e in range(1, epochs + 1)], tag
    for tag in AT_END:
        assert tags[tag] == [(epochs, "scalars")], tag
    assert tags["test/classification_report"] == [(epochs, "text")]
    assert tags["test/confusion_matrix"] == [(epochs, "images")]
    assert any(plugin == "hparams" for values in tags.values() for _, plugin in values)
    assert not any(tag.startswith("epoch_") for tag in tags)  # no Keras default names


def test_metrics_json_follows_the_contract(tiny_run) -> None:
    run_dir = tiny_run["run_dir"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["schema_version"] == 1
    assert metrics["run_id"] == run_dir.name
    assert metrics["run_id"].endswith("_tiny_cnn_finetune")
    assert metrics["framework"] == "tensorflow"
    assert metrics["classes"] == sorted(metrics["classes"]) and len(metrics["classes"]) == 7
    assert metrics["config"]["image_size"] == 32 and metrics["config"]["resize_mode"] == "pad"
    assert set(metrics["hardware"]) >= {"device", "device_name", "num_threads", "gpus"}
    assert metrics["weights_source"] == "none"
    assert metrics["data"]["splits_sha256"] == file_sha256(tiny_run["csv"])
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
    metrics = json.loads((tiny_run["run_dir"] / "metrics.json").read_text())
    assert card["run_id"] == metrics["run_id"] == exported.name
    assert card["onnx"]["sha256"] == file_sha256(exported / "model.onnx")
    assert card["onnx"]["bytes"] == (exported / "model.onnx").stat().st_size
    assert card["parity"]["max_abs_logit_diff"] <= 1e-3
    assert card["parity"]["top1_agreement"] == 1.0 and card["parity"]["num_images"] == 14
    assert card["preprocessing"]["mode"] == "pad" and card["preprocessing"]["size"] == 32
    assert card["input"] == {
        "name": "pixels",
        "layout": "NHWC",
        "dtype": "float32",
        "value_range": [0, 255],
        "height": 32,
        "width": 32,
    }
    assert card["metrics"]["test"]["accuracy"] == metrics["final"]["test"]["accuracy"]
    assert card["latency_ms"]["batch_1"] > 0 and card["latency_ms"]["batch_16_per_image"] > 0
    graph = onnx.load(str(exported / "model.onnx")).graph
    assert [i.name for i in graph.input] == ["pixels"]
    assert [o.name for o in graph.output] == ["logits"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_onnx_scores_the_test_split_like_keras(exported, tiny_run) -> None:
    kwargs = {"splits_csv": tiny_run["csv"], "images_dir": tiny_run["config"].images_dir}
    keras_summary = evaluate_run(tiny_run["run_dir"], "test", **kwargs)
    onnx_summary = evaluate_run(tiny_run["run_dir"], "test", exported / "model.onnx", **kwargs)
    assert onnx_summary["confusion_matrix"] == keras_summary["confusion_matrix"]
    metrics = json.loads((tiny_run["run_dir"] / "metrics.json").read_text())
    assert keras_summary["confusion_matrix"] == metrics["final"]["test"]["confusion_matrix"]


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
    assert rc == 2 and "unknown model 'resnet9000'" in capsys.readouterr().err
