"""The Models tab's curves and confusion cells, the Monitoring tab's series and status, rendered
from stored answers (flipkart_ui.insights): no backend here (see test_browser_insights.py)."""

import pandas as pd
import pytest
from flipkart_ui import insights

RUNS = [
    {
        "run_id": "20261201-005216_efficientnet_lite0_finetune",
        "architecture": "efficientnet_lite0",
        "training_mode": "finetune",
    },
    {
        "run_id": "20261201-005219_efficientnet_lite0_finetune",
        "architecture": "efficientnet_lite0",
        "training_mode": "finetune",
    },
    {
        "run_id": "20261123-091641_efficientnet_lite0_freeze",
        "architecture": "efficientnet_lite0",
        "training_mode": "freeze",
    },
]
CURVES = {
    "response": {
        "runs": RUNS,
        "curves": {
            RUNS[0]["run_id"]: {"val/accuracy": [[1, 0.5], [2, 0.75]]},
            RUNS[1]["run_id"]: {"val/accuracy": [[1, 0.4]]},
            RUNS[2]["run_id"]: {},  # no curve: not drawn
        },
    },
    "message": None,
}
CELLS = {
    "response": {
        "classes": ["Baby Care", "Watches"],
        "confusion_matrix": [[1, 1], [0, 2]],
        "matches_card": True,
        "predictions": [
            {"image": "a.jpg", "label": "Baby Care", "predicted": "Baby Care", "confidence": 0.9},
            {"image": "b.jpg", "label": "Baby Care", "predicted": "Watches", "confidence": 0.6},
            {"image": "c.jpg", "label": "Watches", "predicted": "Watches", "confidence": 0.8},
            {"image": "d.jpg", "label": "Watches", "predicted": "Watches", "confidence": 0.7},
        ],
    },
    "message": None,
}


def series(requests: list[int], hits: list[int]) -> dict:
    buckets = [
        {
            "start": f"2026-12-01T{h:02d}:00:00Z",
            "requests": r,
            "cache_hits": c,
            "latency_ms": {"p50": 10.0, "p95": 20.0, "p99": 30.0} if r else None,
        }
        for h, (r, c) in enumerate(zip(requests, hits, strict=True))
    ]
    return {
        "response": {
            "bucket_minutes": 60,
            "buckets": buckets,
            "requests": sum(requests),
            "cache_hits": sum(hits),
            "by_label": {"Watches": 3, "Baby Care": 1},
        },
        "message": None,
        "ready": {"status": "ready", "model": "m1"},
    }


def test_one_curve_per_run_with_a_name_each() -> None:
    fig = insights.curves_chart(CURVES, "val/accuracy", "en")
    assert len(fig.data) == 2 and fig.data[0].y == (0.5, 0.75)
    assert fig.data[0].name != fig.data[1].name  # same minute: the seconds tell them apart
    assert "(+16 s)" in fig.data[0].name and "fine-tuned" in fig.data[0].name
    french = insights.curves_chart(CURVES, "val/loss", "fr")
    assert "Perte en validation" in french.layout.title.text and not french.data


def test_a_cell_lists_its_test_images_and_says_what_they_are() -> None:
    table = insights.cells_table(CELLS, "fr")
    assert list(table.columns) == ["Réelle ↓ / prédite →", "Puériculture", "Montres"]
    assert table.iloc[0, 1:].tolist() == [1, 1]
    assert [p["image"] for p in insights.cell_members(CELLS, 0, 1)] == ["b.jpg"]
    assert [p["image"] for p in insights.cell_members(CELLS, 1, 1)] == ["c.jpg", "d.jpg"]
    assert insights.cell_members(CELLS, 5, 0) == []
    assert "taken for Watches" in insights.cell_caption(CELLS, [0, 1], "en")
    assert "2** × Watches, recognised" in insights.cell_caption(CELLS, [1, 1], "en")
    assert "4 images" in insights.cells_hint(CELLS, "fr")


def test_unavailable_cells_say_so() -> None:
    state = {"response": None, "message": ("cells_unavailable", {})}
    assert "not available" in insights.cells_hint(state, "en")
    assert insights.cells_table(state, "en").empty


def test_requests_per_hour_stack_the_answers_from_the_store_on_whole_ticks() -> None:
    fig = insights.requests_chart(series([3, 0, 5], [1, 0, 4]), "en")
    new, cached = fig.data
    assert list(new.y) == [2, 0, 1] and list(cached.y) == [1, 0, 4]
    assert fig.layout.yaxis.tickformat == ",d" and fig.layout.yaxis.dtick >= 1
    assert fig.layout.barmode == "stack"


def test_one_hour_of_latency_spans_the_window_not_milliseconds() -> None:
    fig = insights.latency_series_chart(series([0, 2, 0], [0, 0, 0]), "en")
    assert [trace.name for trace in fig.data] == ["p50", "p95", "p99"]
    low, high = (pd.Timestamp(v) for v in fig.layout.xaxis.range)
    assert high - low == pd.Timedelta(hours=3)


def test_the_label_mix_is_shares_beside_the_training_split() -> None:
    dashboard = pd.DataFrame(
        {
            "label": ["Watches", "Baby Care", "Baby Care", "Watches"],
            "split": ["train", "train", "train", "test"],
        }
    )
    training = insights.training_shares(dashboard)
    assert training == {"Baby Care": pytest.approx(2 / 3), "Watches": pytest.approx(1 / 3)}
    served, train = insights.label_mix_chart(series([4], [0]), training, "en").data
    assert list(served.y) == [0.25, 0.75] and list(train.y) == pytest.approx([2 / 3, 1 / 3])


@pytest.mark.parametrize(
    ("ready", "en", "fr"),
    [
        ({"status": "ready", "model": "m1"}, "Service ready", "Service prêt"),
        ({"status": "degraded", "model": "m1"}, "not stored", "pas enregistrées"),
        ({"status": "not_ready"}, "no model loaded", "aucun modèle"),
        ({"status": "unreachable"}, "unreachable", "injoignable"),
    ],
)
def test_the_status_line(ready, en, fr) -> None:
    assert en in insights.health_line({"ready": ready}, "en")
    assert fr in insights.health_line({"ready": ready}, "fr")
    assert insights.health_line({"ready": {"status": "?"}}, "en") == ""


def test_empty_states_draw_empty_figures() -> None:
    empty = {"response": None, "message": None}
    for fig in (
        *insights.series_figures(empty, {}, "en"),
        insights.curves_chart(empty, None, "en"),
    ):
        assert not fig.data
