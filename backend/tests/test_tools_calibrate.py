"""`python -m flipkart_api.tools.calibrate`: temperature fitted on validation, folded into the
graph (same predictions, logits divided by T), card updated and still valid."""

import numpy as np
import pytest
from flipkart_api.tools import calibrate
from flipkart_contract import load_card, sha256_file
from flipkart_contract.latency import ort_session
from flipkart_contract.testing import FLIPKART_CLASSES
from test_tools_evaluate import COLOUR_RUN, COLOURS, png, write_colour_model, write_splits


@pytest.fixture
def root(tmp_path):
    artifacts = tmp_path / "artifacts"
    write_colour_model(artifacts, COLOUR_RUN)
    images = tmp_path / "images"
    images.mkdir()
    rows = []
    for k, label in enumerate(FLIPKART_CLASSES):
        for j in range(3):  # mostly right, one in three painted with the next class's colour
            colour = COLOURS[(k + 1) % 7] if j == 2 else COLOURS[k]
            name = f"val_{k}_{j}.png"
            (images / name).write_bytes(png(colour))
            rows.append((name, label, "val"))
    write_splits(tmp_path / "splits.csv", rows)
    return tmp_path


def argv(folder, *extra):
    return [
        "--splits", str(folder / "splits.csv"), "--images", str(folder / "images"),
        "--artifacts", str(folder / "artifacts"), "--run-id", COLOUR_RUN, *extra,
    ]  # fmt: skip


def test_temperature_is_folded_and_predictions_do_not_change(root, capsys):
    folder = root / "artifacts" / "models" / COLOUR_RUN
    probe = np.stack([np.full((32, 32, 3), c, np.float32) for c in COLOURS])
    before = ort_session(folder / "model.onnx").run(None, {"pixels": probe})[0]
    assert calibrate.main(argv(root)) == 0
    card = load_card(folder / "card.json")
    cal = card.calibration
    assert cal is not None and cal.folded and cal.fitted_on == "val" and cal.num_images == 21
    assert cal.nll_after <= cal.nll_before + 1e-9
    assert 0 <= cal.uncertain_below <= 1
    assert sha256_file(folder / "model.onnx") == card.onnx.sha256
    assert (folder / "model.onnx").stat().st_size == card.onnx.bytes
    after = ort_session(folder / "model.onnx").run(None, {"pixels": probe})[0]
    assert np.array_equal(after.argmax(1), before.argmax(1))
    assert np.allclose(after, before / cal.temperature, rtol=1e-5, atol=1e-6)
    assert "T = " in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == ["card.json", "model.onnx"]  # no temp


def test_a_calibrated_model_is_not_calibrated_twice(root, capsys):
    assert calibrate.main(argv(root)) == 0
    folder = root / "artifacts" / "models" / COLOUR_RUN
    sha = sha256_file(folder / "model.onnx")
    assert calibrate.main(argv(root)) == 2
    assert "already calibrated" in capsys.readouterr().err
    assert sha256_file(folder / "model.onnx") == sha


def test_bad_input(root, capsys):
    assert calibrate.main([*argv(root), "--images", str(root / "absent")]) == 2
    assert calibrate.main([*argv(root)[:-2], "--run-id", "20200101-000000_x_freeze"]) == 2
    (root / "splits.csv").write_text("image,label,split\nval_0_0.png,Baby Care,train\n")
    assert calibrate.main(argv(root)) == 2
    assert "no images for split 'val'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        calibrate.main([*argv(root), "--target-precision", "1.5"])
