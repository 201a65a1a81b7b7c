"""`python -m flipkart_api.tools.leaderboard` on tiny exports: measured, card-figure and unusable
rows, ranks, the CSV columns of `LeaderboardRow`, the Markdown mark and the README table."""

import csv
from pathlib import Path

import pytest
from flipkart_api.tools import leaderboard
from flipkart_contract import LeaderboardRow, read_json_object, write_json_atomic
from flipkart_contract.testing import metrics_dict, write_listing
from helpers import write_model, write_registry

ALPHA = "20261123-100000_alpha_finetune"  # ONNX present, macro-F1 0.79
BETA = "20261123-110000_beta_freeze"  # ONNX present, macro-F1 0.84 (tensorflow)
GAMMA = "20261123-120000_gamma_finetune"  # ONNX git-ignored: card figures, macro-F1 0.82
DELTA = "20261123-130000_delta_finetune"  # ONNX altered after export
EPSILON = "20261123-140000_epsilon_freeze"  # card.json invalid, its run's metrics.json valid
ORPHAN = "20261123-090000_orphan_finetune"  # a run never exported
BROKEN = "20261123-080000_broken_finetune"  # a run whose metrics.json is invalid


def edit_card(folder: Path, **changes) -> None:
    card = read_json_object(folder / "card.json")
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        target = card
        for parent in parents:
            target = target[parent]
        target[key] = value
    write_json_atomic(folder / "card.json", card)


def set_scores(folder: Path, accuracy: float, macro_f1: float) -> None:
    edit_card(folder, metrics__test__accuracy=accuracy, metrics__test__macro_f1=macro_f1)


def write_run(runs: Path, run_id: str, framework: str = "pytorch", **overrides) -> Path:
    path = runs / framework / run_id / "metrics.json"
    write_json_atomic(path, metrics_dict(run_id, framework=framework, **overrides))
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    artifacts, runs = tmp_path / "artifacts", tmp_path / "runs"
    set_scores(write_model(artifacts, ALPHA, seed=1), 0.80, 0.79)
    set_scores(write_model(artifacts, BETA, seed=2, framework="tensorflow"), 0.85, 0.84)
    gamma = write_model(artifacts, GAMMA, seed=3, method="crop", size=40)
    set_scores(gamma, 0.83, 0.82)
    edit_card(gamma, latency_ms__batch_1=7.5, latency_ms__batch_16_per_image=3.25)
    (gamma / "model.onnx").unlink()
    delta = write_model(artifacts, DELTA, seed=4)
    set_scores(delta, 0.99, 0.99)
    (delta / "model.onnx").write_bytes((delta / "model.onnx").read_bytes() + b"tampered")
    epsilon = write_model(artifacts, EPSILON, seed=5)
    edit_card(epsilon, training_mode="scratch")
    hardware = {"device": "cpu", "device_name": "cpu-x", "num_threads": 2, "gpus": 0}
    write_run(runs, ALPHA, wall_time_s=120.0, hardware=hardware)
    write_run(runs, EPSILON, accuracy=0.25)
    write_run(runs, ORPHAN, config={"image_size": 224})
    broken = write_run(runs, BROKEN)
    broken.write_text('{"run_id": "x"}')
    return tmp_path


def run_leaderboard(root: Path, *extra: str) -> int:
    return leaderboard.main(
        ["--artifacts", str(root / "artifacts"), "--runs", str(root / "runs"),
         "--data", str(root / "nodata"), "--readme", str(root / "README.md"),
         "--repeats", "3", *extra]
    )  # fmt: skip


def read_rows(root: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    with (root / "artifacts" / "leaderboard.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    return list(reader.fieldnames or []), {r["run_id"]: r for r in rows}


def test_rows_ranks_and_columns(tree, capsys):
    (tree / "README.md").write_text(
        f"# x\n{leaderboard.README_START}\nold\n{leaderboard.README_END}\ntail\n"
    )
    assert run_leaderboard(tree) == 0
    columns, rows = read_rows(tree)
    assert columns == list(LeaderboardRow.model_fields)
    assert columns[2:5] == ["architecture", "framework", "training_mode"]
    order = list(rows)
    assert order[:3] == [BETA, GAMMA, ALPHA]  # the card-figure export is ranked among the others
    assert [rows[r]["rank"] for r in order[:3]] == ["1", "2", "3"]
    assert set(order[3:]) == {DELTA, EPSILON, ORPHAN, BROKEN}
    assert all(rows[r]["rank"] == "" for r in order[3:])

    for run_id in (ALPHA, BETA):
        row = rows[run_id]
        assert row["status"] == "exported" and row["latency_source"] == "measured"
        assert float(row["latency_ms_batch_1"]) > 0
        assert float(row["latency_ms_batch_16_per_image"]) > 0
        onnx = tree / "artifacts" / "models" / run_id / "model.onnx"
        assert int(row["onnx_bytes"]) == onnx.stat().st_size
    assert rows[BETA]["framework"] == "tensorflow" and rows[BETA]["training_mode"] == "freeze"
    assert rows[ALPHA]["training_hardware"] == "cpu-x (2 threads)"
    assert rows[ALPHA]["training_time_s"] == "120.0"

    gamma = rows[GAMMA]
    assert gamma["status"] == leaderboard.CARD_FIGURES == "onnx not present (card figures)"
    assert gamma["latency_source"] == "card"
    assert (gamma["latency_ms_batch_1"], gamma["latency_ms_batch_16_per_image"]) == ("7.5", "3.25")
    assert (gamma["test_macro_f1"], gamma["input_size"]) == ("0.82", "40")
    card = read_json_object(tree / "artifacts" / "models" / GAMMA / "card.json")
    assert int(gamma["onnx_bytes"]) == card["onnx"]["bytes"]

    assert rows[DELTA]["status"] == "model.onnx sha256 does not match its card"
    assert rows[DELTA]["latency_ms_batch_1"] == "" and rows[DELTA]["latency_source"] == ""
    epsilon = rows[EPSILON]
    assert epsilon["status"].startswith("invalid card.json: training_mode")
    assert epsilon["test_accuracy"] == "0.25"  # the run's own figures
    assert rows[ORPHAN]["status"] == "not exported" and rows[ORPHAN]["input_size"] == "224"
    assert rows[BROKEN]["status"].startswith("invalid metrics.json: ")
    assert rows[BROKEN]["architecture"] == "broken"  # from its run id

    markdown = (tree / "artifacts" / "leaderboard.md").read_text()
    assert "| architecture (run_id) | framework | training_mode |" in markdown
    gamma_line = next(line for line in markdown.splitlines() if GAMMA in line)
    assert gamma_line.startswith("| 2† |") and "7.50†" in gamma_line
    assert "onnx not present (card figures)" in gamma_line
    assert "† ONNX not present in this checkout" in markdown
    alpha_line = next(line for line in markdown.splitlines() if ALPHA in line)
    assert "†" not in alpha_line
    readme = (tree / "README.md").read_text()
    assert "old" not in readme and readme.endswith("tail\n") and markdown in readme
    assert "README table updated" in capsys.readouterr().out


def test_without_card_rows_there_is_no_footnote(tree):
    for run_id in (GAMMA, DELTA, EPSILON):
        for path in (tree / "artifacts" / "models" / run_id).iterdir():
            path.unlink()
        (tree / "artifacts" / "models" / run_id).rmdir()
    assert run_leaderboard(tree) == 0
    markdown = (tree / "artifacts" / "leaderboard.md").read_text()
    assert "†" not in markdown
    _, rows = read_rows(tree)
    assert rows[EPSILON]["status"] == "not exported"  # its run is still listed


def test_an_invalid_card_without_a_run_is_still_listed(tree, capsys):
    edit_card(tree / "artifacts" / "models" / DELTA, metrics="gone")
    (tree / "artifacts" / "models" / DELTA / "model.onnx").unlink()
    assert run_leaderboard(tree) == 0
    _, rows = read_rows(tree)
    assert rows[DELTA]["status"].startswith("invalid card.json: metrics")
    assert rows[DELTA]["test_accuracy"] == "" and rows[DELTA]["rank"] == ""


def test_ties_are_broken_by_latency():
    def row(run_id, f1, latency, status="exported"):
        return LeaderboardRow(
            run_id=run_id, architecture=run_id, framework="pytorch", training_mode="finetune",
            weights_source="none", test_accuracy=0.8, test_macro_f1=f1,
            latency_ms_batch_1=latency, status=status,
        )  # fmt: skip

    ranked = leaderboard.assign_ranks(
        [
            row("slow", 0.81234, 9.0),
            row("fast", 0.81231, 3.0, leaderboard.CARD_FIGURES),
            row("best", 0.9, 50.0),
            row("unranked", 0.99, None, "not exported"),
        ]
    )
    assert [r.run_id for r in ranked] == ["best", "fast", "slow", "unranked"]
    assert [r.rank for r in ranked] == [1, 2, 3, None]


def test_nothing_to_list_exits_1(tmp_path, capsys):
    code = leaderboard.main(
        ["--artifacts", str(tmp_path / "a"), "--runs", str(tmp_path / "r"),
         "--data", str(tmp_path / "d"), "--readme", str(tmp_path / "README.md")]
    )  # fmt: skip
    assert code == 1
    assert "no exported model" in capsys.readouterr().err
    assert not (tmp_path / "a" / "leaderboard.csv").exists()


def test_seed_summaries_and_bootstrap_intervals(tree):
    runs = tree / "runs"
    # ALPHA's recipe run again with two other seeds (same config but the seed and paths).
    config = {"lr": 1e-3, "seed": 0, "run_id": ALPHA, "runs_dir": "/a"}
    write_run(runs, ALPHA, accuracy=0.5, config=config)
    for i, accuracy in ((1, 0.75), (2, 0.25)):
        run_id = f"20261123-10000{i}_alpha_finetune"
        write_run(runs, run_id, accuracy=accuracy, config={**config, "seed": i, "runs_dir": "/b"})
    write_run(runs, "20261123-100009_alpha_finetune", config={**config, "lr": 5e-4})  # other recipe
    assert run_leaderboard(tree) == 0
    _, rows = read_rows(tree)
    alpha = rows[ALPHA]
    assert alpha["seeds"] == "3"
    assert float(alpha["seeds_test_accuracy_mean"]) == pytest.approx(0.5, abs=1e-3)
    assert float(alpha["seeds_test_accuracy_std"]) == pytest.approx(0.25, abs=1e-3)
    assert rows["20261123-100009_alpha_finetune"]["seeds"] == "1"
    assert rows["20261123-100009_alpha_finetune"]["seeds_test_accuracy_std"] == ""
    low, high = float(alpha["test_accuracy_ci95_low"]), float(alpha["test_accuracy_ci95_high"])
    card = read_json_object(tree / "artifacts" / "models" / ALPHA / "card.json")
    matrix = card["metrics"]["test"]["confusion_matrix"]
    card_accuracy = sum(matrix[i][i] for i in range(len(matrix))) / sum(map(sum, matrix))
    assert low <= card_accuracy <= high and low < high
    markdown = (tree / "artifacts" / "leaderboard.md").read_text()
    assert "0.500 ± 0.250 (3)" in markdown


def test_rows_are_ranked_on_validation_when_cards_have_it(tree):
    edit_card(
        tree / "artifacts" / "models" / ALPHA, metrics__val={"accuracy": 0.9, "macro_f1": 0.9}
    )
    edit_card(tree / "artifacts" / "models" / BETA, metrics__val={"accuracy": 0.7, "macro_f1": 0.7})
    edit_card(
        tree / "artifacts" / "models" / GAMMA, metrics__val={"accuracy": 0.8, "macro_f1": 0.8}
    )
    assert run_leaderboard(tree) == 0
    _, rows = read_rows(tree)
    assert list(rows)[:3] == [ALPHA, GAMMA, BETA]  # test alone would say BETA, GAMMA, ALPHA
    assert rows[ALPHA]["val_macro_f1"] == "0.9"


def test_the_production_model_is_named_in_the_table(tree):
    write_registry(tree / "artifacts", ALPHA, [ALPHA])
    assert run_leaderboard(tree) == 0
    lines = (tree / "artifacts" / "leaderboard.md").read_text().splitlines()
    marked = [line for line in lines if "**in production**" in line]
    assert len(marked) == 1 and ALPHA in marked[0]


def test_the_listing_table_has_a_row_per_input(tree):
    from flipkart_contract.testing import LISTING_ID, TEXT_RUN_ID

    artifacts = tree / "artifacts"
    write_listing(artifacts, ALPHA)
    write_registry(artifacts, ALPHA, [ALPHA, BETA], listing=LISTING_ID)
    (artifacts / "listing" / "broken").mkdir()
    (artifacts / "listing" / "broken" / "card.json").write_text("{}")
    assert run_leaderboard(tree) == 0

    with (artifacts / "leaderboard_listing.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    inputs = [(r["input"], r["source"]) for r in rows]
    # the contract's fixture listing has image and fused:title figures; its text card has both
    assert inputs == [
        ("image", f"listing `{LISTING_ID}`"),
        ("title", f"text `{TEXT_RUN_ID}`"),
        ("image + title", f"listing `{LISTING_ID}`"),
        ("title+description", f"text `{TEXT_RUN_ID}`"),
    ]
    assert all(r["in_production"] == "True" for r in rows)
    assert rows[0]["model"] == ALPHA and rows[0]["added_ms"] == ""
    assert rows[1]["added_ms"] == "0.1" and rows[1]["status"] == "exported"
    markdown = (artifacts / "leaderboard.md").read_text(encoding="utf-8")
    assert "### A listing: photo, text, or both" in markdown
    assert f"| image + title | {ALPHA} + {TEXT_RUN_ID} **in production**" in markdown

    # a text model whose file is git-ignored keeps its card's figures, marked
    (artifacts / "text" / TEXT_RUN_ID / "model.json").unlink()
    assert run_leaderboard(tree) == 0
    with (artifacts / "leaderboard_listing.csv").open(newline="", encoding="utf-8") as handle:
        statuses = {r["input"]: r["status"] for r in csv.DictReader(handle)}
    assert statuses["title"] == "model.json not present (card figures)"


def test_no_listing_no_listing_table(tree):
    assert run_leaderboard(tree) == 0
    assert not (tree / "artifacts" / "leaderboard_listing.csv").exists()
    assert "A listing" not in (tree / "artifacts" / "leaderboard.md").read_text(encoding="utf-8")


def test_a_quantised_export_is_measured_and_shows_its_precision(tree):
    quantised = "20261123-150000_zeta_finetune"
    write_model(tree / "artifacts", quantised, seed=6, precision="int8")
    assert run_leaderboard(tree) == 0
    _, rows = read_rows(tree)
    assert rows[quantised]["precision"] == "int8" and rows[ALPHA]["precision"] == "fp32"
    assert rows[quantised]["latency_source"] == "measured"
    served = tree / "artifacts" / "models" / quantised / "model.onnx"
    assert int(rows[quantised]["onnx_bytes"]) == served.stat().st_size  # not model.fp32.onnx
    lines = (tree / "artifacts" / "leaderboard.md").read_text().splitlines()
    [line] = [line for line in lines if quantised in line]
    assert " int8 |" in line
    assert not any(" fp32 |" in line for line in lines)  # fp32 is the unmarked default


def test_the_table_says_how_loaded_the_measuring_machine_was(tree, monkeypatch):
    monkeypatch.setattr(leaderboard.os, "getloadavg", lambda: (5.46, 6.0, 5.0))
    assert run_leaderboard(tree) == 0
    assert "cores (load average 5.5)" in (tree / "artifacts" / "leaderboard.md").read_text()
