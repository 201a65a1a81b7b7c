import json
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from flipkart_contract import (
    class_names,
    make_run_id,
    parse_run_id,
    read_splits,
    sha256_bytes,
    sha256_file,
    write_json_atomic,
)
from flipkart_contract.evaluation import confusion_matrix, report_text, split_metrics
from flipkart_contract.latency import measure_latency, median_ms
from flipkart_contract.testing import FLIPKART_CLASSES


def test_run_ids_round_trip():
    when = datetime(2026, 11, 23, 10, 15, 0, tzinfo=UTC)
    run_id = make_run_id("efficientnet_lite0", "finetune", when)
    assert run_id == "20261123-101500_efficientnet_lite0_finetune"
    assert parse_run_id(run_id) == (when, "efficientnet_lite0", "finetune")


@pytest.mark.parametrize("bad", ["", "latest", "20261123_x_finetune", "20261123-101500_x_train"])
def test_bad_run_ids(bad):
    with pytest.raises(ValueError, match="not a run id"):
        parse_run_id(bad)


def test_make_run_id_refuses_bad_parts():
    with pytest.raises(ValueError):
        make_run_id("lite0", "scratch")
    with pytest.raises(ValueError):
        make_run_id("Bad Name", "freeze")


def write_splits(path: Path, rows: list[str], header: str = "image,label,split") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_class_names_are_sorted_and_unique(tmp_path):
    path = write_splits(tmp_path / "s.csv", ["a.jpg,Watches,train", "b.jpg,Baby Care,test"])
    assert class_names(path) == ["Baby Care", "Watches"]
    assert read_splits(path)[0] == {"image": "a.jpg", "label": "Watches", "split": "train"}


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        (["a.jpg,Watches,train"], "image,category,split", "missing column"),
        (["a.jpg,Watches,holdout"], "image,label,split", "unknown split"),
        (["a.jpg,,train"], "image,label,split", "empty"),
        ([], "image,label,split", "no rows"),
    ],
)
def test_bad_splits(tmp_path, rows, header, message):
    path = write_splits(tmp_path / "s.csv", rows, header)
    with pytest.raises(ValueError, match=message):
        class_names(path)


def test_sha256(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_file(path) == sha256_bytes(b"abc") == expected


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out" / "x.json"
    write_json_atomic(target, {"a": "é"})
    write_json_atomic(target, {"a": 2})
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": 2}
    assert os.listdir(target.parent) == ["x.json"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "x.json"
    write_json_atomic(target, {"ok": True})
    with pytest.raises(ValueError):
        write_json_atomic(target, {"nan": float("nan")})  # not valid JSON
    assert json.loads(target.read_text()) == {"ok": True}
    assert os.listdir(tmp_path) == ["x.json"]


def test_split_metrics_against_hand_counts():
    classes = ["a", "b", "c"]
    labels = [0, 0, 1, 1, 2, 2]
    preds = [0, 1, 1, 1, 0, 0]
    m = split_metrics(labels, preds, classes, loss=0.5)
    assert m.accuracy == pytest.approx(3 / 6)
    assert m.confusion_matrix == [[1, 1, 0], [0, 2, 0], [2, 0, 0]]
    a, b, c = (m.per_class[k] for k in classes)
    assert (a.precision, a.recall) == (pytest.approx(1 / 3), 0.5)
    assert (b.precision, b.recall, b.f1) == (pytest.approx(2 / 3), 1.0, pytest.approx(0.8))
    assert (c.precision, c.recall, c.f1, c.support) == (0.0, 0.0, 0.0, 2)  # zero_division=0
    assert m.macro_f1 == pytest.approx((0.4 + 0.8 + 0.0) / 3)
    text = report_text(m, classes)
    assert "macro avg" in text and "0.400" in text


def test_confusion_matrix_refuses_out_of_range():
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="labels but"):
        confusion_matrix([0], [0, 1], 3)


def test_fixture_classes_match_the_committed_split():
    root = Path(__file__).resolve().parents[2]
    assert class_names(root / "data" / "splits.csv") == FLIPKART_CLASSES


class CountingSession:
    def __init__(self):
        self.shapes = []

    def run(self, outputs, feeds):
        self.shapes.append(feeds["pixels"].shape)
        return [np.zeros((feeds["pixels"].shape[0], 7), np.float32)]


def test_latency_times_batch_1_and_16():
    session = CountingSession()
    report = measure_latency(session, np.zeros((3, 8, 8, 3), np.float32), threads=2, repeats=4)
    assert {s[0] for s in session.shapes} == {1, 16}
    assert report["threads"] == 2 and report["batch_1"] >= 0 and report["batch_16_per_image"] >= 0
    with pytest.raises(ValueError):
        measure_latency(session, np.zeros((8, 8, 3), np.float32), threads=1)


def test_median_ms_runs_warmup_then_repeats():
    calls = []
    assert median_ms(lambda: calls.append(1), repeats=5, warmup=2) >= 0
    assert len(calls) == 7
