"""`python -m flipkart_api.tools.robustness` on the colour model of test_tools_evaluate: its
predictions depend on the mean colour only, so greyscale must hurt it and `clean` must agree
with `evaluate`."""

import json

import pytest
from flipkart_api.tools import robustness
from flipkart_contract import load_card, sha256_file
from test_tools_evaluate import COLOUR_RUN, root  # noqa: F401  (the fixture)


def argv(folder, *extra):
    return [
        "--splits", str(folder / "splits.csv"), "--images", str(folder / "images"),
        "--artifacts", str(folder / "artifacts"), "--split", "test", *extra,
    ]  # fmt: skip


def test_clean_agrees_with_evaluate_and_greyscale_hurts_a_colour_model(root, capsys):  # noqa: F811
    out = root / "robustness.json"
    code = robustness.main(argv(root, "--conditions", "greyscale,dark", "--output", str(out)))
    assert code == 0
    report = json.loads(out.read_text())
    assert set(report["conditions"]) == {"clean", "greyscale", "dark"}
    assert report["conditions"]["clean"]["accuracy"] == pytest.approx(5 / 7)
    assert report["conditions"]["greyscale"]["accuracy"] < 5 / 7
    assert report["worst_condition"] == "greyscale"
    clean, grey = (report["conditions"][c]["accuracy"] for c in ("clean", "greyscale"))
    assert report["worst_drop"] == pytest.approx(clean - grey)
    assert "worst: greyscale" in capsys.readouterr().out


def test_write_card_keeps_the_onnx_and_validates(root):  # noqa: F811
    folder = root / "artifacts" / "models" / COLOUR_RUN
    before = sha256_file(folder / "model.onnx")
    assert robustness.main(argv(root, "--conditions", "greyscale", "--write-card")) == 0
    card = load_card(folder / "card.json")
    assert card.robustness is not None and card.robustness.worst_condition == "greyscale"
    assert sha256_file(folder / "model.onnx") == before == card.onnx.sha256


def test_max_drop_fails_the_run(root):  # noqa: F811
    assert robustness.main(argv(root, "--conditions", "greyscale", "--max-drop", "0")) == 3


def test_bad_input(root, capsys):  # noqa: F811
    assert robustness.main(argv(root, "--run-id", "20200101-000000_nothing_freeze")) == 2
    assert "unknown run id" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        robustness.main(argv(root, "--conditions", "snow"))
    assert exc.value.code == 2
    assert robustness.main([*argv(root), "--images", str(root / "absent")]) == 2
