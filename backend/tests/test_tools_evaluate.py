"""`python -m flipkart_api.tools.evaluate`: figures, thresholds, bad input, skipped images,
the model chosen by run id.

Most tests drive `main(argv)` in-process on a "colour" model whose predictions we control: it
classifies an image by the nearest of 7 prototype colours to its mean colour, so a solid image
of class k's colour is predicted as class k.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import OTHER, PROD
from flipkart_api.tools import evaluate
from flipkart_contract import sha256_bytes
from flipkart_contract.testing import FLIPKART_CLASSES, encode, gradient_image, image_bytes
from helpers import write_model, write_registry
from onnx import TensorProto, helper, numpy_helper
from test_tools_leaderboard import edit_card

CLASSES = FLIPKART_CLASSES
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255)]
COLOURS.append((0, 0, 0))  # one prototype colour per class, in CLASSES order
COLOUR_RUN = "20261201-090000_colour_net_finetune"
SHIFTED_RUN = "20261201-100000_shifted_net_freeze"


def colour_classifier(shift: int) -> bytes:
    """logits_k = mean_rgb · c_k − |c_k|² / 2 with c_k = COLOURS[(k + shift) % 7], in 0–1."""
    prototypes = np.array([COLOURS[(k + shift) % 7] for k in range(7)], np.float32) / 255
    nodes = [
        helper.make_node("ReduceMean", ["pixels"], ["mean"], axes=[1, 2], keepdims=0),
        helper.make_node("Mul", ["mean", "scale"], ["scaled"]),
        helper.make_node("MatMul", ["scaled", "weights"], ["matmul"]),
        helper.make_node("Add", ["matmul", "bias"], ["logits"]),
    ]
    initializers = [
        numpy_helper.from_array(np.array(1 / 255, np.float32), "scale"),
        numpy_helper.from_array(prototypes.T.copy(), "weights"),
        numpy_helper.from_array(-(prototypes**2).sum(axis=1) / 2, "bias"),
    ]
    graph = helper.make_graph(
        nodes,
        "colour",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", "H", "W", 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 7])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_colour_model(root: Path, run_id: str, shift: int = 0) -> Path:
    """The helpers' model folder and card, with the colour classifier as its graph."""
    folder = write_model(root, run_id)
    data = colour_classifier(shift)
    (folder / "model.onnx").write_bytes(data)
    edit_card(
        folder,
        onnx__sha256=sha256_bytes(data),
        onnx__bytes=len(data),
        metrics__test__accuracy=0.9,
    )
    return folder


def png(colour) -> bytes:
    return image_bytes(size=(40, 40), color=colour)


# The test split: one image per class in its own colour, except "Computers" painted red
# (→ Baby Care) and "Watches" painted cyan (→ Kitchen & Dining): 5 right out of 7.
TEST_ROWS = [(f"test_{k}.png", label, COLOURS[k]) for k, label in enumerate(CLASSES)]
TEST_ROWS[2] = ("test_2.png", CLASSES[2], COLOURS[0])
TEST_ROWS[6] = ("test_6.png", CLASSES[6], COLOURS[5])


def write_splits(path: Path, rows: list[tuple[str, str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["image", "label", "split"])
        writer.writerows(rows)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """artifacts/ (colour model in production, shifted model registered), images/, splits.csv."""
    artifacts = tmp_path / "artifacts"
    write_colour_model(artifacts, COLOUR_RUN)
    write_colour_model(artifacts, SHIFTED_RUN, shift=1)
    write_registry(artifacts, COLOUR_RUN, [COLOUR_RUN, SHIFTED_RUN])
    images = tmp_path / "images"
    images.mkdir()
    rows = []
    for name, label, colour in TEST_ROWS:
        (images / name).write_bytes(png(colour))
        rows.append((name, label, "test"))
    for k, label in enumerate(CLASSES[:3]):
        (images / f"train_{k}.png").write_bytes(png(COLOURS[k]))
        rows.append((f"train_{k}.png", label, "train"))
    write_splits(tmp_path / "splits.csv", rows)
    return tmp_path


def args(root: Path, *extra: str, artifacts: bool = True) -> list[str]:
    base = ["--splits", str(root / "splits.csv"), "--images", str(root / "images")]
    base += ["--output", str(root / "out" / "report.json")]
    if artifacts:
        base += ["--artifacts", str(root / "artifacts")]
    return [*base, *extra]


def run(root: Path, *extra: str, artifacts: bool = True) -> tuple[int, dict | None]:
    code = evaluate.main(args(root, *extra, artifacts=artifacts))
    report = root / "out" / "report.json"
    return code, json.loads(report.read_text()) if report.is_file() else None


def test_passing_run_reports_hand_computed_figures(root, capsys):
    code, report = run(root, "--split", "test", "--min-accuracy", "0.7", "--batch-size", "3")
    assert code == 0
    assert report["schema_version"] == 2
    assert report["run_id"] == COLOUR_RUN and report["architecture"] == "colour_net"
    assert report["training_mode"] == "finetune" and report["framework"] == "pytorch"
    assert report["resize_policy"]["method"] == "pad" and report["resize_policy"]["size"] == 32
    assert "model" not in report and "model_name" not in report
    assert report["split"] == "test" and report["classes"] == CLASSES
    assert report["registered"] is True and report["is_production"] is True
    assert report["num_images"] == 7 and report["num_skipped"] == 0 and report["skipped"] == []
    assert report["accuracy"] == pytest.approx(5 / 7)
    assert report["macro_f1"] == pytest.approx(13 / 21)  # (2/3 + 1 + 0 + 1 + 1 + 2/3 + 0) / 7
    expected = np.eye(7, dtype=int)
    expected[2, 2], expected[2, 0], expected[6, 6], expected[6, 5] = 0, 1, 0, 1
    assert report["confusion_matrix"] == expected.tolist()
    assert report["per_class"]["Baby Care"] == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    )
    assert report["per_class"]["Computers"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 1,
    }
    assert report["per_class"]["Watches"]["f1"] == 0.0
    assert report["card_accuracy"] == 0.9 and report["min_accuracy"] == 0.7
    assert report["passed"] is True
    predictions = report["predictions"]
    wrong = {p["image"]: p["predicted"] for p in predictions if p["predicted"] != p["label"]}
    assert wrong == {"test_2.png": "Baby Care", "test_6.png": "Kitchen & Dining"}
    assert os.listdir(root / "out") == ["report.json"]  # written atomically, no temp file left
    out, err = capsys.readouterr()
    assert "accuracy 0.7143 (card: 0.9000)" in out and "PASSED" in out
    assert "[7/7] 100%" in err and "[3/7]" in err  # progress, one line per batch


def test_below_the_threshold_exits_3_with_the_report(root, capsys):
    code, report = run(root, "--min-accuracy", "0.75")
    assert code == 3
    assert report["passed"] is False and report["min_accuracy"] == 0.75
    assert "FAILED" in capsys.readouterr().out


def test_no_threshold_passes(root):
    code, report = run(root)
    assert code == 0 and report["min_accuracy"] is None and report["passed"] is True


def test_another_split(root):
    code, report = run(root, "--split", "train", "--min-accuracy", "1")
    assert code == 0 and report["num_images"] == 3 and report["accuracy"] == 1.0


@pytest.mark.parametrize("option", ["--run-id", "--model"])  # --model: the old spelling
def test_a_model_chosen_by_run_id(root, option):
    code, report = run(root, option, SHIFTED_RUN, "--min-accuracy", "0.5")
    assert code == 3
    assert report["run_id"] == SHIFTED_RUN and report["is_production"] is False
    assert report["architecture"] == "shifted_net" and report["training_mode"] == "freeze"
    assert report["accuracy"] == 0.0  # every class moved by one


def test_the_help_names_run_id_only(capsys):
    with pytest.raises(SystemExit):
        evaluate.parse_args(["--help"])
    out = capsys.readouterr().out
    assert "--run-id" in out and "--model" not in out


def test_an_exported_but_unregistered_model_can_be_checked(root):
    candidate = "20261202-000000_candidate_net_finetune"
    write_colour_model(root / "artifacts", candidate)
    code, report = run(root, "--run-id", candidate)
    assert code == 0 and report["run_id"] == candidate and report["registered"] is False


def test_artifacts_root_from_the_environment(root, monkeypatch):
    monkeypatch.setenv("FLIPKART_ARTIFACTS_ROOT", str(root / "artifacts"))
    code, report = run(root, "--min-accuracy", "0.7", artifacts=False)
    assert code == 0
    assert report["run_id"] == COLOUR_RUN and report["artifacts_root"] == str(root / "artifacts")


def test_unreadable_images_are_skipped_and_listed(root, capsys):
    images = root / "images"
    good = png(COLOURS[0])
    (images / "truncated.png").write_bytes(good[: len(good) // 2])
    (images / "notes.png").write_text("not an image at all")
    rows = [(name, label, "test") for name, label, _ in TEST_ROWS]
    (images / "empty.png").write_bytes(b"")
    rows += [(n, CLASSES[0], "test") for n in ("truncated.png", "notes.png", "empty.png")]
    write_splits(root / "splits.csv", rows)
    code, report = run(root, "--min-accuracy", "0.7")
    assert code == 0
    assert report["num_images"] == 7 and report["accuracy"] == pytest.approx(5 / 7)
    reasons = {s["image"]: s["reason"] for s in report["skipped"]}
    assert report["num_skipped"] == 3
    assert set(reasons) == {"truncated.png", "notes.png", "empty.png"}
    assert reasons["truncated.png"].startswith("corrupt_image")
    assert reasons["notes.png"].startswith("not_an_image")
    assert reasons["empty.png"].startswith("empty_image")
    assert "skipped notes.png: not_an_image" in capsys.readouterr().out


def bad_input(root: Path, capsys, *extra: str) -> str:
    code, report = run(root, *extra)
    err = capsys.readouterr().err
    assert code == 2 and report is None
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("evaluate: ")]
    assert len(lines) == 1
    return lines[0]


def test_missing_splits_file(root, capsys):
    (root / "splits.csv").unlink()
    assert str(root / "splits.csv") in bad_input(root, capsys)


def test_missing_images_folder(root, capsys):
    (root / "images").rename(root / "elsewhere")
    message = bad_input(root, capsys)
    assert "images folder not found" in message and str(root / "images") in message


def test_unknown_split_name(root, capsys):
    assert "unknown split 'tset'" in bad_input(root, capsys, "--split", "tset")


def test_no_images_for_the_split(root, capsys):
    assert "no images for split 'val'" in bad_input(root, capsys, "--split", "val")


def test_an_image_missing_from_the_folder(root, capsys):
    (root / "images" / "test_3.png").unlink()
    message = bad_input(root, capsys)
    assert "1 of the 7 test images" in message and "test_3.png" in message


def test_splits_file_without_the_columns(root, capsys):
    (root / "splits.csv").write_text("file,class\na.png,Watches\n")
    message = bad_input(root, capsys)
    assert "missing column(s) ['image', 'label', 'split']" in message


@pytest.mark.parametrize("name", ["resnet_9000", "20261201-090000_nope_finetune", "../models"])
def test_unknown_run_id(root, capsys, name):
    message = bad_input(root, capsys, "--run-id", name)
    assert f"unknown run id {name!r}" in message
    assert COLOUR_RUN in message and SHIFTED_RUN in message  # what exists


def test_missing_artifacts_folder(root, capsys):
    message = bad_input(root, capsys, "--artifacts", str(root / "nowhere"))
    assert "artifacts folder not found" in message


def test_no_registry(root, capsys):
    (root / "artifacts" / "registry.json").unlink()
    message = bad_input(root, capsys)
    assert "no registry" in message and "--run-id" in message
    code, report = run(root, "--run-id", COLOUR_RUN)  # an explicit export needs no registry
    assert code == 0 and report["registered"] is False and report["is_production"] is False


def test_invalid_registry(root, capsys):
    (root / "artifacts" / "registry.json").write_text('{"production": 3}')
    assert "is not a valid registry: production" in bad_input(root, capsys)


def test_model_failing_its_sha256_check(root, capsys):
    model = root / "artifacts" / "models" / COLOUR_RUN / "model.onnx"
    model.write_bytes(model.read_bytes() + b"tampered")
    for extra in ((), ("--run-id", COLOUR_RUN)):
        message = bad_input(root, capsys, *extra)
        assert f"model {COLOUR_RUN} cannot be loaded" in message
        assert "sha256 does not match its card" in message


def test_model_whose_onnx_is_not_present(root, capsys):
    (root / "artifacts" / "models" / SHIFTED_RUN / "model.onnx").unlink()
    message = bad_input(root, capsys, "--run-id", SHIFTED_RUN)
    assert "model.onnx not present" in message


def test_model_with_an_invalid_card(root, capsys):
    edit_card(root / "artifacts" / "models" / COLOUR_RUN, classes=["one"])
    message = bad_input(root, capsys)
    assert "invalid card.json: classes" in message and "at least 2 classes" in message


def test_a_graph_without_the_cards_input_name(root, capsys):
    edit_card(root / "artifacts" / "models" / COLOUR_RUN, input__name="images")
    message = bad_input(root, capsys)
    assert "the graph has inputs ['pixels']" in message and "'images'" in message


def test_labels_the_card_does_not_know(root, capsys):
    rows = [(name, label, "test") for name, label, _ in TEST_ROWS] + [("x.png", "Toys", "test")]
    (root / "images" / "x.png").write_bytes(png(COLOURS[0]))
    write_splits(root / "splits.csv", rows)
    message = bad_input(root, capsys)
    assert "labels unknown to the card" in message and "'Toys'" in message


def test_every_image_unreadable(root, capsys):
    for name, _, _ in TEST_ROWS:
        (root / "images" / name).write_bytes(b"\x89PNG broken")
    assert "none of the 7 test images could be read" in bad_input(root, capsys)


def test_unexpected_failure_exits_1(root, capsys, monkeypatch):
    def broken(*_):
        raise RuntimeError("boom")

    monkeypatch.setattr(evaluate, "split_metrics", broken)
    code, report = run(root)
    assert code == 1 and report is None
    assert "RuntimeError: boom" in capsys.readouterr().err


def test_predictions_match_the_service(artifacts, client, tmp_path):
    """Same decode, resize and model as POST /v1/predict, for a pad and a crop model."""
    images = tmp_path / "images"
    images.mkdir()
    rows = []
    for i, size in enumerate([(80, 50), (50, 80), (33, 33), (300, 120)]):
        data = encode(gradient_image(size, seed=i), "JPEG" if i % 2 else "PNG")
        (images / f"{i}.img").write_bytes(data)
        rows.append((f"{i}.img", CLASSES[0], "test"))
    write_splits(tmp_path / "splits.csv", rows)
    for run_id in (PROD, OTHER):
        code = evaluate.main(args(tmp_path, "--artifacts", str(artifacts), "--run-id", run_id))
        assert code == 0
        report = json.loads((tmp_path / "out" / "report.json").read_text())
        assert report["resize_policy"]["method"] == ("pad" if run_id == PROD else "crop")
        for prediction in report["predictions"]:
            data = (images / prediction["image"]).read_bytes()
            served = client.post(f"/v1/predict?model={run_id}", files={"file": ("x", data)})
            assert served.json()["label"] == prediction["predicted"]
            assert served.json()["confidence"] == pytest.approx(prediction["confidence"], 1e-5)


def test_the_module_runs_as_a_command(root):
    result = subprocess.run(
        [sys.executable, "-m", "flipkart_api.tools.evaluate", *args(root, "--min-accuracy", "0.7")],
        env=os.environ | {"FLIPKART_ARTIFACTS_ROOT": str(root / "nowhere")},  # --artifacts wins
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"{COLOUR_RUN} (colour_net) on test: 7 images" in result.stdout
    assert json.loads((root / "out" / "report.json").read_text())["num_images"] == 7
