"""Chart builders: the aggregates behind each figure, from a small CSV and small API answers."""

import json

import pandas as pd
import pytest
from fake_backend import RUN_IDS, card, model_item
from flipkart_contract.testing import FLIPKART_CLASSES
from flipkart_ui import charts
from flipkart_ui.assets import AssetsError, load_dashboard, load_samples
from flipkart_ui.palette import OKABE_ITO, category_colors


@pytest.fixture()
def frame(assets_dir):
    return load_dashboard(assets_dir)


def test_category_counts_and_filter(frame):
    counts = charts.category_counts(frame)
    assert counts["label"].tolist() == FLIPKART_CLASSES
    assert counts["count"].tolist() == [6] * 7
    shown = charts.filter_categories(frame, ["Watches", "Computers"])
    assert charts.category_counts(shown).to_dict("list") == {
        "label": ["Computers", "Watches"],
        "count": [6, 6],
    }


def test_counts_chart_bars_follow_the_filter(frame):
    shown = charts.filter_categories(frame, ["Watches", "Computers"])
    fig = charts.counts_chart(shown, "en", FLIPKART_CLASSES)
    bars = {trace.name: list(trace.y) for trace in fig.data}
    assert bars == {"Computers": [6], "Watches": [6]}
    # colours stay attached to the category whatever the filter
    assert {t.name: t.marker.color for t in fig.data} == {
        "Computers": OKABE_ITO[2],
        "Watches": OKABE_ITO[6],
    }


def test_every_dataset_chart_builds_and_is_translated(frame):
    for build in charts.DATASET_CHARTS:
        en, fr = build(frame, "en", FLIPKART_CLASSES), build(frame, "fr", FLIPKART_CLASSES)
        assert en.layout.title.text and fr.layout.title.text != en.layout.title.text
        assert len(en.data) >= 1


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("chosen", [["Watches", "Computers"], ["Baby Care"], FLIPKART_CLASSES])
def test_a_selection_cut_from_the_whole_charts_is_the_chart_of_its_rows(frame, lang, chosen):
    """The Dashboard cuts a filter's charts from the whole dataset's (built once): the same
    figures as Plotly Express builds from the chosen rows alone."""
    whole = charts.dataset_figures(frame, lang, FLIPKART_CLASSES)
    shown = charts.filter_categories(frame, chosen)
    for fig, build in zip(whole, charts.DATASET_CHARTS, strict=True):
        cut = charts.keep_categories(fig, chosen, lang)
        built = charts.translate_categories(build(shown, lang, FLIPKART_CLASSES), lang)
        assert json.loads(cut.to_json()) == json.loads(built.to_json()), build.__name__
    assert len(whole[0].data) == 7  # the whole figures are left as they were


def test_a_selection_without_rows_is_a_no_data_figure(frame):
    whole = charts.dataset_figures(frame, "fr", FLIPKART_CLASSES)
    for fig in whole:
        empty = charts.keep_categories(fig, [], "fr")
        assert not empty.data and empty.layout.title.text == fig.layout.title.text
        assert empty.layout.annotations[0].text == "Aucune donnée"


def test_file_size_chart_is_in_kilobytes(frame):
    fig = charts.file_size_chart(frame, "en", FLIPKART_CLASSES)
    values = sorted(v for trace in fig.data for v in trace.x)
    assert values[0] == pytest.approx(20_000 / 1024)
    assert values[-1] == pytest.approx(25_000 / 1024)


def test_price_chart_drops_missing_prices(frame):
    fig = charts.price_chart(frame, "en", FLIPKART_CLASSES)
    assert sum(len(trace.y) for trace in fig.data) == len(frame) - 7  # one missing per class


def test_empty_selection_gives_a_no_data_figure(frame):
    fig = charts.counts_chart(charts.filter_categories(frame, []), "fr", FLIPKART_CLASSES)
    assert fig.layout.annotations[0].text == "Aucune donnée"


def test_resolution_scatter_has_product_names_on_hover(frame):
    fig = charts.resolution_chart(frame, "en", FLIPKART_CLASSES)
    watches = next(trace for trace in fig.data if trace.name == "Watches")
    assert "Watches product 0" in list(watches.hovertext)


def test_probability_chart_sorted_with_percent_text():
    fig = charts.probability_chart(
        [{"label": "Watches", "probability": 0.9}, {"label": "Computers", "probability": 0.1}], "en"
    )
    assert list(fig.data[0].y) == ["Computers", "Watches"]  # best at the top of a horizontal bar
    assert list(fig.data[0].text) == ["10.0%", "90.0%"]


def models_answer() -> dict:
    """/v1/models as the backend answers it, plus the promotion history (optional field)."""
    cards = [
        card(RUN_IDS[1], "tensorflow", 0.79, 6.1),
        card(RUN_IDS[0], "pytorch", 0.86, 2.9),
    ]
    return {
        "production": RUN_IDS[0],
        "history": [{"at": "2026-11-23T11:00:00Z", "run_id": RUN_IDS[0]}],
        "models": [model_item(c, RUN_IDS[0]) for c in cards],
    }


def test_leaderboard_best_macro_f1_first():
    answer = models_answer()
    lite, b0 = answer["models"][1]["card"], answer["models"][0]["card"]
    table = charts.leaderboard(answer)
    assert table["architecture"].tolist() == ["efficientnet_lite0", "efficientnet_b0"]
    assert table["run_id"].tolist() == [RUN_IDS[0], RUN_IDS[1]]
    tests = [lite["metrics"]["test"], b0["metrics"]["test"]]
    assert table["accuracy"].tolist() == [m["accuracy"] for m in tests]
    assert table["macro_f1"].tolist() == [m["macro_f1"] for m in tests]
    assert tests[0]["macro_f1"] > tests[1]["macro_f1"]  # the order is not the answer's order
    assert table["latency_ms"].tolist() == [2.9, 6.1]
    assert table["parameters_m"].tolist() == [3.38, 3.38]
    assert table["is_production"].tolist() == [True, False]
    assert table["training_mode"].tolist() == ["finetune", "freeze"]
    shown = charts.leaderboard_display(table, "fr")
    assert "Exactitude" in shown.columns and shown["Production"].tolist() == ["oui", ""]
    assert "Entraînement" in shown.columns and "Exécution" in shown.columns
    assert shown["Exactitude"].tolist() == [f"{a:.3f}".replace(".", ",") for a in table["accuracy"]]
    assert shown["Latence mesurée sur"].tolist()[0].startswith("test, ")  # the card's hardware


def test_an_unreadable_card_is_listed_with_its_figures_unavailable():
    answer = models_answer()
    answer["models"][0]["card"] = {"schema_version": 1, "name": "efficientnet_b0"}  # old schema
    answer["models"].append({"run_id": "r", "architecture": "m", "card": None})
    table = charts.leaderboard(answer)
    assert table["architecture"].tolist() == ["efficientnet_lite0", "efficientnet_b0", "m"]
    assert table["accuracy"].isna().tolist() == [False, True, True]
    assert charts.unreadable_cards(answer) == [RUN_IDS[1], "r"]
    assert set(charts.per_class_f1(answer)["run_id"]) == {RUN_IDS[0]}
    no_cards = {"models": [{"run_id": "r", "architecture": "m", "card": {}}]}
    figure = charts.accuracy_latency_chart(charts.leaderboard(no_cards), "en")
    assert figure.layout.annotations[0].text == "No data"


def test_the_item_fields_win_and_the_card_fills_the_gaps():
    lite = card(RUN_IDS[0], "pytorch", 0.86, 2.9)
    (entry,) = charts.model_entries({"production": RUN_IDS[0], "models": [{"card": lite}]})
    assert (entry.run_id, entry.architecture, entry.training_mode) == (
        RUN_IDS[0],
        "efficientnet_lite0",
        "finetune",
    )
    assert entry.is_production and entry.card.resize_policy.method == "pad"


def test_accuracy_latency_scatter_marks_production():
    answer = models_answer()
    fig = charts.accuracy_latency_chart(charts.leaderboard(answer), "en")
    pytorch = next(trace for trace in fig.data if trace.name == "pytorch")
    assert list(pytorch.marker.symbol) == ["star"]
    assert list(pytorch.text) == ["efficientnet_lite0 finetune, 23 Nov 10:15"]
    accuracy = answer["models"][1]["card"]["metrics"]["test"]["accuracy"]
    assert list(pytorch.x) == [2.9] and list(pytorch.y) == [accuracy]


def test_per_class_f1_and_confusion():
    answer = models_answer()
    lite_card = answer["models"][1]["card"]
    f1 = charts.per_class_f1(answer)
    assert len(f1) == 2 * 7
    lite = f1[f1["run_id"] == lite_card["run_id"]].set_index("label")["f1"]
    per_class = lite_card["metrics"]["test"]["per_class"]
    assert lite.to_dict() == {label: scores["f1"] for label, scores in per_class.items()}
    entry = charts.production_entry(answer)
    assert entry.run_id == RUN_IDS[0]
    figure = charts.confusion_chart(entry, "en")
    assert figure.layout.title.text == "Confusion matrix of efficientnet_lite0 (test split)"
    heatmap = figure.data[0]
    assert list(heatmap.x) == FLIPKART_CLASSES
    assert [list(row) for row in heatmap.z] == lite_card["metrics"]["test"]["confusion_matrix"]
    assert charts.production_since(answer, entry) == "2026-11-23T11:00:00Z"
    assert charts.production_since({"models": []}, entry) is None


def test_confusion_matrix_needs_a_readable_card():
    assert charts.confusion_chart(None, "en").layout.annotations[0].text == "No data"
    bad = charts.model_entries({"models": [{"run_id": "r", "architecture": "m", "card": {}}]})
    figure = charts.confusion_chart(bad[0], "en")
    assert figure.layout.annotations[0].text == "No data" and "of m " in figure.layout.title.text


def test_a_card_with_a_matrix_of_the_wrong_size_is_unreadable():
    broken = card(RUN_IDS[0], "pytorch", 0.86, 2.9)
    broken["metrics"]["test"]["confusion_matrix"] = [[1]]
    assert charts.parse_card(broken) is None
    assert charts.parse_card(card(RUN_IDS[0], "pytorch", 0.86, 2.9)) is not None


def stats(by_label: dict[str, int]) -> dict:
    """The backend's /v1/stats shape (backend/src/flipkart_api/store/stats.py)."""
    return {
        "predictions": sum(by_label.values()),
        "by_label": by_label,
        "uncertain_share": 0.25,
        "latency_ms": {"count": 12, "p99": 12.0, "p50": 4.0, "mean": 5.0, "p95": 9.5},
        "last_n": {"n": 100, "count": 12, "mean_confidence": 0.81, "uncertain_share": 0.2},
        "feedback": {"count": 4, "correct": 3, "accuracy": 0.75},
    }


def test_monitoring_aggregates():
    windows = {168: stats({"Watches": 9, "Computers": 4}), 1: stats({"Watches": 2})}
    frame = charts.counts_by_window(windows)
    assert frame.to_dict("list") == {
        "hours": [1, 168, 168],
        "label": ["Watches", "Computers", "Watches"],
        "count": [2, 4, 9],
    }
    fig = charts.timeline_chart(windows, "en")
    watches = next(trace for trace in fig.data if trace.name == "Watches")
    assert list(watches.x) == ["last 1 h", "last 7 days"] and list(watches.y) == [2, 9]
    assert charts.window_name(24, "fr") == "dernières 24 h"
    assert charts.window_name(168, "fr") == "derniers 7 jours"
    percentiles = charts.latency_percentiles(windows[1])
    assert percentiles["percentile"].tolist() == ["p50", "p95", "p99"]  # "mean", "count" left out
    assert percentiles["ms"].tolist() == [4.0, 9.5, 12.0]
    assert charts.quality_indicators(windows[1]) == {
        "kpi_confidence": 0.81,
        "kpi_uncertain": 0.25,
        "kpi_feedback": 0.75,
    }


def test_monitoring_charts_with_empty_stats():
    # a fresh database: the backend sends None for what it cannot compute yet
    empty = {
        "predictions": 0,
        "by_label": {},
        "latency_ms": None,
        "uncertain_share": None,
        "last_n": {"mean_confidence": None},
        "feedback": {"accuracy": None},
    }
    assert charts.timeline_chart({24: empty}, "en").layout.annotations[0].text == "No data"
    assert charts.latency_chart(empty, "en").layout.annotations[0].text == "No data"
    assert charts.quality_chart(empty, "fr").layout.annotations[0].text == "Aucune donnée"


def test_palette_is_stable_and_sorted():
    assert category_colors(["b", "a", "b"]) == {"a": OKABE_ITO[0], "b": OKABE_ITO[1]}


def test_assets_contract_is_checked(tmp_path):
    assert load_dashboard(tmp_path) is None and load_samples(tmp_path) == []
    pd.DataFrame({"image": ["a.jpg"], "label": ["x"]}).to_csv(tmp_path / "dataset_dashboard.csv")
    with pytest.raises(AssetsError, match="product_name"):
        load_dashboard(tmp_path)


def test_samples_skip_missing_images(assets_dir, tmp_path):
    samples = load_samples(assets_dir)
    assert len(samples) == 14 and samples[0].title.startswith("Baby Care — ")
    (tmp_path / "images").mkdir()
    pd.read_csv(assets_dir / "sampled.csv").to_csv(tmp_path / "sampled.csv", index=False)
    assert load_samples(tmp_path) == []


def test_monitoring_keeps_each_category_colour():
    windows = {24: stats({"Computers": 2})}
    fig = charts.timeline_chart(windows, "en", FLIPKART_CLASSES)
    assert fig.data[0].marker.color == OKABE_ITO[2]  # Computers' colour on the dashboard too
    probabilities = [{"label": "Watches", "probability": 1.0}]
    assert (
        charts.probability_chart(probabilities, "en", FLIPKART_CLASSES).data[0].marker.color[0]
        == (OKABE_ITO[6])
    )
