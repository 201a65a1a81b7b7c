"""Learning curves read from TensorBoard event files without TensorBoard (flipkart_api.runs),
the runs and curves routes, and which test images fell in each confusion-matrix cell
(tools.test_cells, the test-predictions and thumbnails routes)."""

import json
import struct
from pathlib import Path

import pytest
from conftest import PROD, make_settings
from fastapi.testclient import TestClient
from flipkart_api.app import create_app
from flipkart_api.runs import find_runs, read_event_file, run_curves
from flipkart_api.tools import test_cells
from flipkart_contract import load_metrics
from PIL import Image
from test_tools_evaluate import COLOUR_RUN, root  # noqa: F401 (a fixture)

REPO_RUNS = Path(__file__).resolve().parents[2] / "runs"
RUN = "20261201-120000_tiny_net_finetune"


# ---- a minimal protobuf / TFRecord writer, the inverse of what flipkart_api.runs reads ----
def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, wire: int, payload: bytes | int) -> bytes:
    key = varint(number << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def simple_value(tag: str, value: float) -> bytes:
    return field(1, 2, tag.encode()) + field(2, 5, struct.pack("<f", value))


def tensor_value(tag: str, tensor: bytes) -> bytes:
    return field(1, 2, tag.encode()) + field(8, 2, tensor)


def event(step: int, *values: bytes) -> bytes:
    summary = b"".join(field(1, 2, v) for v in values)
    return field(1, 1, struct.pack("<d", 1.7e9)) + field(2, 0, step) + field(5, 2, summary)


def record(data: bytes) -> bytes:
    return struct.pack("<Q", len(data)) + b"\0" * 4 + data + b"\0" * 4  # CRCs are not checked


def write_events(folder: Path, name: str, *events: bytes, tail: bytes = b"") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    header = record(field(3, 2, b"brain.Event:2"))  # the file_version event: no scalars
    (folder / f"events.out.tfevents.{name}").write_bytes(
        header + b"".join(record(e) for e in events) + tail
    )


FLOAT_PACKED = field(1, 0, 1) + field(5, 2, struct.pack("<f", 0.25))  # DT_FLOAT, float_val
DOUBLE_CONTENT = field(1, 0, 2) + field(4, 2, struct.pack("<d", 0.125))  # DT_DOUBLE, content
INT64 = field(1, 0, 9) + field(10, 2, varint(42))  # DT_INT64, int64_val packed
STRING = field(1, 0, 7) + field(8, 2, b"hello")  # DT_STRING: text, not a scalar
VECTOR = field(1, 0, 1) + field(5, 2, struct.pack("<2f", 1, 2))  # two elements: not a scalar


def test_simple_values_and_one_element_tensors_are_read(tmp_path) -> None:
    folder = tmp_path / "run"
    write_events(
        folder,
        "1",
        event(0, simple_value("train/loss", 2.5), tensor_value("val/accuracy", FLOAT_PACKED)),
        event(1, simple_value("train/loss", 1.5), tensor_value("lr", DOUBLE_CONTENT)),
        event(2, tensor_value("count", INT64), tensor_value("report", STRING)),
        event(3, tensor_value("vector", VECTOR)),
        tail=record(event(4, simple_value("train/loss", 9.0)))[:-10],  # cut mid-record
    )
    curves = read_event_file(next(folder.iterdir()))
    assert curves == {
        "train/loss": [(0, 2.5), (1, 1.5)],
        "val/accuracy": [(0, 0.25)],
        "lr": [(1, 0.125)],
        "count": [(2, 42.0)],
    }


def test_a_resumed_run_merges_its_files_and_keeps_the_last_value_of_a_step(tmp_path) -> None:
    folder = tmp_path / "run"
    write_events(
        folder,
        "1",
        event(1, simple_value("val/loss", 3.0)),
        event(2, simple_value("val/loss", 2.0)),
    )
    write_events(
        folder,
        "2",
        event(2, simple_value("val/loss", 1.75)),
        event(3, simple_value("val/loss", 1.0)),
    )
    assert run_curves(folder) == {"val/loss": [(1, 3.0), (2, 1.75), (3, 1.0)]}


def test_garbage_is_skipped_not_raised(tmp_path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "events.out.tfevents.x").write_bytes(record(b"\xff\xff\xff") + b"\x01\x02")
    assert run_curves(folder) == {}


@pytest.mark.skipif(not REPO_RUNS.is_dir(), reason="no runs/ in this checkout")
def test_the_committed_runs_curves_agree_with_their_metrics_json() -> None:
    runs = find_runs(REPO_RUNS)
    assert {r.framework for r in runs.values()} == {"pytorch", "tensorflow"}
    assert not any("text" in run_id for run_id in runs)  # runs/text holds the text models
    with_curves = 0
    for run in runs.values():
        metrics = load_metrics(run.folder / "metrics.json")
        curves = run_curves(run.folder)
        if "test/accuracy" not in curves:  # an ensemble is assembled, not trained: no curves
            assert "ensemble" in run.run_id and metrics.epochs_run == 0, run.run_id
            continue
        with_curves += 1
        # one point per epoch (plus the epoch-0 evaluation some recipes log)
        assert len(curves["val/accuracy"]) - metrics.epochs_run in (0, 1), run.run_id
        assert curves["test/accuracy"][-1][1] == pytest.approx(
            metrics.final.test.accuracy, abs=1e-6
        ), run.run_id
    assert with_curves >= len(runs) - 2


# ---- routes ------------------------------------------------------------------------------
@pytest.fixture
def runs_client(artifacts, tmp_path):
    runs = tmp_path / "runs"
    write_events(
        runs / "pytorch" / RUN,
        "1",
        event(1, simple_value("val/accuracy", 0.5), simple_value("train/loss", 2.0)),
        event(2, simple_value("val/accuracy", 0.75), simple_value("train/loss", 1.0)),
    )
    (runs / "pytorch" / "not-a-run").mkdir()
    (runs / "text" / "20261201-130000_text-tfidf-char").mkdir(parents=True)
    with TestClient(create_app(make_settings(artifacts, runs_root=runs))) as client:
        yield client


def test_runs_are_listed_with_their_tags(runs_client) -> None:
    [run] = runs_client.get("/v1/runs").json()["runs"]
    assert run["run_id"] == RUN and run["framework"] == "pytorch"
    assert run["architecture"] == "tiny_net" and run["training_mode"] == "finetune"
    assert run["tags"] == {"train/loss": 2, "val/accuracy": 2}
    assert run["test_accuracy"] is None  # no metrics.json


def test_curves_by_tag(runs_client) -> None:
    body = runs_client.get(f"/v1/runs/{RUN}/curves").json()
    assert body["curves"]["val/accuracy"] == [[1, 0.5], [2, 0.75]]
    only = runs_client.get(f"/v1/runs/{RUN}/curves", params={"tag": ["train/loss", "nope"]})
    assert only.json()["curves"] == {"train/loss": [[1, 2.0], [2, 1.0]]}


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/runs/20261201-000000_missing_net_freeze/curves", 404, "unknown_run"),
        ("/v1/runs/not-a-run/curves", 422, "invalid_request"),
        ("/v1/runs/..%2F..%2Fartifacts/curves", 404, "not_found"),
        (f"/v1/models/{PROD}/test-predictions", 404, "no_test_predictions"),
        ("/v1/models/nope/test-predictions", 404, "unknown_model"),
        ("/v1/thumbnails/registry.json", 404, "unknown_image"),
        ("/v1/thumbnails/..%2Fregistry.json", 404, "not_found"),
        ("/v1/thumbnails/.hidden", 422, "invalid_request"),
    ],
)
def test_refusals(runs_client, path, status, code) -> None:
    response = runs_client.get(path)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_no_runs_folder_is_an_empty_list(artifacts, tmp_path) -> None:
    settings = make_settings(artifacts, runs_root=tmp_path / "absent")
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/runs").json() == {"runs": []}


# ---- test_cells: the tool and what the service serves from it ------------------------------
def test_the_tool_writes_each_test_image_cell_and_its_thumbnail(root) -> None:  # noqa: F811
    artifacts = root / "artifacts"
    code = test_cells.main(
        [
            "--splits",
            str(root / "splits.csv"),
            "--images",
            str(root / "images"),
            "--artifacts",
            str(artifacts),
            "--thumbnail-px",
            "16",
        ]
    )
    assert code == 0
    cells = json.loads((artifacts / "models" / COLOUR_RUN / test_cells.FILE_NAME).read_text())
    by_image = {p["image"]: (p["label"], p["predicted"]) for p in cells["predictions"]}
    classes = cells["classes"]
    # test_tools_evaluate's split: Computers painted red → Baby Care, Watches cyan → Kitchen.
    assert by_image["test_2.png"] == (classes[2], classes[0])
    assert by_image["test_6.png"] == (classes[6], classes[5])
    assert cells["confusion_matrix"][2][0] == 1 and cells["matches_card"] is False
    thumb = Image.open(artifacts / "thumbnails" / "test_2.png")
    assert thumb.format == "JPEG" and max(thumb.size) == 16

    with TestClient(create_app(make_settings(artifacts))) as client:
        served = client.get(f"/v1/models/{COLOUR_RUN}/test-predictions").json()
        assert served["predictions"] == cells["predictions"]
        image = client.get("/v1/thumbnails/test_2.png")
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        assert image.content == (artifacts / "thumbnails" / "test_2.png").read_bytes()


def test_the_tool_refuses_a_missing_images_folder(root, capsys) -> None:  # noqa: F811
    code = test_cells.main(
        [
            "--splits",
            str(root / "splits.csv"),
            "--images",
            str(root / "absent"),
            "--artifacts",
            str(root / "artifacts"),
        ]
    )
    assert code == 2 and "images folder not found" in capsys.readouterr().err
