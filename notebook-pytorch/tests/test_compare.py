"""The comparison helpers behind merged_notebook.ipynb, on runs written by both writers."""

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flipkart_contract import write_json_atomic
from flipkart_contract.testing import metrics_dict, registry_dict
from flipkart_torch import compare
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util
from torch.utils.tensorboard import SummaryWriter

CLASSES = ["A a", "B b", "C c"]


def write_metrics(run_dir: Path, framework: str, f1: list[float], matrix) -> None:
    metrics = metrics_dict(run_dir.name, framework=framework, classes=CLASSES)
    metrics["config"] = {"image_size": 64}
    metrics["wall_time_s"] = 90
    metrics["final"]["test"] |= {
        "accuracy": 0.5,
        "macro_f1": float(np.mean(f1)),
        "per_class": {
            c: {"precision": v, "recall": v, "f1": v, "support": 3}
            for c, v in zip(CLASSES, f1, strict=True)
        },
        "confusion_matrix": matrix,
    }
    write_json_atomic(run_dir / "metrics.json", metrics)


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    torch_run = root / "pytorch" / "20261123-100000_tiny_net_finetune"
    write_metrics(torch_run, "pytorch", [0.5, 0.6, 0.7], [[2, 1, 0], [0, 3, 0], [1, 0, 2]])
    writer = SummaryWriter(str(torch_run))
    for step in range(1, 4):
        writer.add_scalar("val/accuracy", 0.2 * step, step)
        writer.add_scalar("train/loss", 1.0 / step, step)
    writer.close()

    tf_run = root / "tensorflow" / "20261123-110000_efficientnetb0_finetune"
    write_metrics(tf_run, "tensorflow", [0.1, 0.2, 0.3], [[1, 1, 1], [0, 3, 0], [1, 1, 1]])
    # What TF2's tf.summary.scalar writes: a tensor value tagged with the scalars plugin.
    writer = EventFileWriter(str(tf_run))
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
    for step in range(1, 3):
        value = Summary.Value(
            tag="val/accuracy",
            tensor=tensor_util.make_tensor_proto(np.float32(0.1 * step)),
            metadata=metadata,
        )
        writer.add_event(Event(wall_time=time.time(), step=step, summary=Summary(value=[value])))
    writer.close()
    return root


def test_scalars_from_both_writers(runs):
    curves = compare.load_curves(runs)
    acc = curves[curves.tag == "val/accuracy"]
    torch_values = acc[acc.framework == "pytorch"].sort_values("step").value.round(4).tolist()
    tf_values = acc[acc.framework == "tensorflow"].sort_values("step").value.round(4).tolist()
    assert torch_values == [0.2, 0.4, 0.6]
    assert tf_values == [0.1, 0.2]


def test_runs_table_and_per_class_f1(runs):
    table = compare.load_runs(runs)
    assert sorted(table.framework) == ["pytorch", "tensorflow"]
    tiny = table.set_index("run_id").loc["20261123-100000_tiny_net_finetune"]
    assert (tiny.architecture, tiny.training_mode, tiny.image_size) == ("tiny_net", "finetune", 64)
    assert tiny.wall_time_min == 1.5 and tiny.test_macro_f1 == pytest.approx(0.6)
    f1 = compare.per_class_f1(table)
    tiny = f1[f1.run_id.str.contains("tiny_net")].set_index("class").f1
    assert tiny.to_dict() == {"A a": 0.5, "B b": 0.6, "C c": 0.7}


def test_figures_have_one_trace_per_run_and_panel(runs):
    curves = compare.load_curves(runs)
    figure = compare.curves_figure(curves, tags=("val/accuracy", "train/loss"))
    # tiny_net has both tags, the TF run only val/accuracy: 3 traces.
    assert len(figure.data) == 3
    dashes = {t.name: t.line.dash for t in figure.data}
    assert dashes["efficientnetb0 finetune (tf)"] == "dash"
    assert dashes["tiny_net finetune (pt)"] == "solid"

    table = compare.load_runs(runs)
    heatmaps = compare.confusion_figure(table)
    assert len(heatmaps.data) == 2
    first = np.asarray(heatmaps.data[0].z)
    assert np.allclose(first.sum(axis=1), 1.0)  # rows normalised to recall

    leaderboard = pd.DataFrame(
        [
            {"run_id": "r1", "architecture": "m", "training_mode": "finetune",
             "framework": "pytorch", "latency_ms_batch_1": 3.0, "test_accuracy": 0.8,
             "test_macro_f1": 0.79, "parameters": 4e6, "weights_source": "none",
             "status": "exported"},
            {"run_id": "r2", "architecture": "n", "training_mode": "freeze",
             "framework": "tensorflow", "latency_ms_batch_1": None, "test_accuracy": 0.7,
             "test_macro_f1": 0.69, "parameters": None, "weights_source": "none",
             "status": "not exported"},
        ]
    )  # fmt: skip
    scatter = compare.accuracy_latency_figure(leaderboard)
    assert sum(len(t.x) for t in scatter.data) == 1  # only exported models have a latency


def test_label_of_run_id():
    assert compare.label_of("20261123-101500_efficientnet_lite0_finetune") == (
        "efficientnet_lite0 finetune"
    )
    assert compare.label_of("20261123-101500_efficientnet_b0_finetune", "tensorflow") == (
        "efficientnet_b0 finetune (tf)"
    )
    assert compare.label_of("no-underscore") == "no-underscore"


def test_same_model_in_both_labs_stays_apart(tmp_path):
    """Both labs train `efficientnet_b0`: the notebook's per-class pivot must not collide."""
    root = tmp_path / "runs"
    for framework, f1 in (("pytorch", [0.1, 0.2, 0.3]), ("tensorflow", [0.4, 0.5, 0.6])):
        run = root / framework / "20261123-100000_efficientnet_b0_finetune"
        write_metrics(run, framework, f1, [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    table = compare.load_runs(root)
    pivot = compare.per_class_f1(table).pivot(index="class", columns="run", values="f1")
    assert pivot.to_dict() == {
        "efficientnet_b0 finetune (pt)": {"A a": 0.1, "B b": 0.2, "C c": 0.3},
        "efficientnet_b0 finetune (tf)": {"A a": 0.4, "B b": 0.5, "C c": 0.6},
    }
    titles = [a.text for a in compare.confusion_figure(table).layout.annotations]
    assert titles == ["efficientnet_b0 finetune (pt)", "efficientnet_b0 finetune (tf)"]
    curves = pd.DataFrame(
        {
            "tag": ["val/accuracy"] * 4,
            "step": [1, 2, 1, 2],
            "value": [0.1, 0.2, 0.3, 0.4],
            "run_id": ["20261123-100000_efficientnet_b0_finetune"] * 4,
            "framework": ["pytorch", "pytorch", "tensorflow", "tensorflow"],
        }
    )
    traces = compare.curves_figure(curves, tags=("val/accuracy",)).data
    assert {t.name: list(t.y) for t in traces} == {
        "efficientnet_b0 finetune (pt)": [0.1, 0.2],
        "efficientnet_b0 finetune (tf)": [0.3, 0.4],
    }


def test_short_class_names_stay_distinct():
    classes = ["Baby Care", "Home Decor & Festive Needs", "Home Furnishing", "Watches"]
    assert compare.short_names(classes) == ["Baby Care", "Home Decor", "Home Furnishing", "Watches"]
    assert compare.short_names(["A x", "B y"]) == ["A", "B"]
    assert compare.short_names(["Same", "Same"]) == ["Same", "Same"]  # nothing shorter exists


def test_runs_of_the_same_model_get_distinct_labels(tmp_path):
    """Re-running a model (longer, larger images) must not collide in the notebook's tables."""
    root = tmp_path / "runs"
    for stamp, f1 in (("20261123-093858", [0.1, 0.2, 0.3]), ("20261123-130903", [0.4, 0.5, 0.6])):
        run = root / "pytorch" / f"{stamp}_efficientnet_lite0_finetune"
        write_metrics(run, "pytorch", f1, [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    table = compare.load_runs(root)
    pivot = compare.per_class_f1(table).pivot(index="class", columns="run", values="f1")
    assert list(pivot.columns) == [
        "efficientnet_lite0 finetune (pt) @09:38",
        "efficientnet_lite0 finetune (pt) @13:09",
    ]
    same_minute = compare.labels_for(
        ["20261123-093858_m_freeze", "20261124-093811_m_freeze"], ["pytorch", "pytorch"]
    )
    assert same_minute == [
        "20261123-093858_m_freeze (pytorch)",
        "20261124-093811_m_freeze (pytorch)",
    ]


def test_a_schema_1_metrics_json_is_read_with_todays_names(tmp_path):
    """Runs written before the contract's vocabulary (model, mode) still compare."""
    run_dir = tmp_path / "runs" / "pytorch" / "20261123-100000_tiny_net_freeze"
    old = metrics_dict(run_dir.name, classes=CLASSES)
    old["schema_version"] = 1
    old["model"], old["mode"] = old.pop("architecture"), old.pop("training_mode")
    write_json_atomic(run_dir / "metrics.json", old)
    (row,) = compare.load_runs(tmp_path / "runs").to_dict("records")
    assert (row["architecture"], row["training_mode"]) == ("tiny_net", "freeze")


def test_an_invalid_metrics_json_is_named(tmp_path):
    run_dir = tmp_path / "runs" / "pytorch" / "20261123-100000_tiny_net_freeze"
    broken = metrics_dict(run_dir.name, classes=CLASSES)
    del broken["final"]
    write_json_atomic(run_dir / "metrics.json", broken)
    with pytest.raises(ValueError, match="20261123-100000_tiny_net_freeze"):
        compare.load_runs(tmp_path / "runs")


def test_registry_is_read_through_the_contract(tmp_path):
    assert compare.read_registry(tmp_path / "registry.json") is None
    run_id = "20261123-100000_tiny_net_freeze"
    write_json_atomic(tmp_path / "registry.json", registry_dict(run_id, [run_id]))
    assert compare.read_registry(tmp_path / "registry.json").production == run_id


def test_listing_tables_and_figure(tmp_path: Path) -> None:
    from flipkart_contract.testing import LISTING_ID, listing_card_dict

    artifacts = tmp_path / "artifacts"
    assert compare.load_listing(artifacts) is None
    run = "20261123-101500_tiny_finetune"
    card = listing_card_dict(run, "a" * 64, "b" * 64)
    write_json_atomic(artifacts / "listing" / LISTING_ID / "card.json", card)
    write_json_atomic(artifacts / "registry.json", registry_dict(run, [run]))
    listing = compare.load_listing(artifacts)
    assert listing is not None and listing.listing_id == LISTING_ID

    table = compare.listing_table(listing)
    assert list(table.index) == ["image", "fused:title"]
    assert "test_accuracy" in table and "val_accuracy" not in table  # the fixture has no val
    figure = compare.listing_confusion_figure(listing, "title")
    assert [a.text for a in figure.layout.annotations] == ["image", "fused:title"]
    fixes = compare.text_fixes(listing, "title")
    assert list(fixes.columns) == ["photo", "both", "both - photo"]
    assert len(fixes) == len(listing.classes)


def test_confusion_grid_takes_many_panels() -> None:
    from flipkart_torch import compare

    matrix = [[2, 1], [0, 3]]
    panels = [(f"run {i}", matrix, ["A", "B"]) for i in range(25)]  # 9 rows of 3
    figure = compare.confusion_grid(panels, "many")
    assert len(figure.data) == 25


def test_compact_png_keeps_the_picture_and_shrinks_it() -> None:
    import io

    import numpy as np
    from flipkart_torch.compare import compact_png
    from PIL import Image

    # A chart-like picture: flat fills, a gradient bar and anti-aliased text-like noise.
    rng = np.random.default_rng(0)
    pixels = np.full((300, 400, 3), 255, np.uint8)
    pixels[50:250, 40:120] = (31, 119, 180)
    pixels[80:250, 160:240] = (255, 127, 14)
    pixels[20:40, :] = np.linspace(0, 255, 400, dtype=np.uint8)[None, :, None]
    pixels[260:280, 40:360] = rng.choice([0, 128, 255], (20, 320, 1)).astype(np.uint8)
    # anti-aliasing: soft edges in many shades around the bars (what costs RGB PNG bytes)
    edge = rng.integers(0, 256, (200, 6, 3), dtype=np.uint8)
    pixels[50:250, 34:40] = edge
    pixels[50:250, 120:126] = edge
    original = io.BytesIO()
    Image.fromarray(pixels).save(original, format="PNG")
    png = original.getvalue()
    compact = compact_png(png)
    assert len(compact) < len(png), (len(compact), len(png))
    with Image.open(io.BytesIO(compact)) as image:
        assert image.size == (400, 300)
        back = np.asarray(image.convert("RGB"), dtype=np.int16)
    assert np.abs(back - pixels).mean() < 2  # no visible loss on average
    assert (back[100, 80] == (31, 119, 180)).all()  # flat fills exact
