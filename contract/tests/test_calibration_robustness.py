import io

import numpy as np
import pytest
from flipkart_contract.calibration import (
    bootstrap_interval,
    expected_calibration_error,
    fit_temperature,
    nll,
    softmax,
    threshold_for_precision,
)
from flipkart_contract.images import decode_image
from flipkart_contract.robustness import CONDITIONS, near_white_mask, perturb
from PIL import Image


def overconfident(n=400, seed=0):
    """Logits whose argmax is right 70 % of the time but scaled to look ~100 % sure."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, n)
    logits = rng.normal(0, 1, (n, 5))
    right = rng.random(n) < 0.7
    logits[np.arange(n), np.where(right, labels, (labels + 1) % 5)] += 2.0
    return logits * 6, labels


def test_temperature_softens_overconfident_logits_and_lowers_nll_and_ece():
    logits, labels = overconfident()
    t = fit_temperature(logits, labels)
    assert t > 2
    assert nll(logits, labels, t) < nll(logits, labels, 1.0)
    before = expected_calibration_error(softmax(logits), labels)
    after = expected_calibration_error(softmax(logits, t), labels)
    assert after < before / 2
    # A grid search agrees with the golden-section result.
    grid = np.exp(np.linspace(np.log(0.05), np.log(20), 400))
    best = grid[np.argmin([nll(logits, labels, g) for g in grid])]
    assert t == pytest.approx(best, rel=0.05)


def test_temperature_refuses_mismatched_inputs():
    with pytest.raises(ValueError):
        fit_temperature(np.zeros((3, 2)), [0, 1])


def test_threshold_for_precision():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.55, 0.45]])
    labels = [0, 0, 1, 0]  # the 0.6 answer is wrong
    assert threshold_for_precision(probs, labels, 1.0) == 0.8
    assert threshold_for_precision(probs, labels, 0.75) == 0.55
    assert threshold_for_precision(probs, [1, 1, 1, 1], 0.9) == 1.0


def test_bootstrap_interval_brackets_the_figure():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 7, 154)
    preds = np.where(rng.random(154) < 0.8, labels, (labels + 1) % 7)
    accuracy = (labels == preds).mean()
    lo, hi = bootstrap_interval(labels, preds, samples=500)
    assert lo < accuracy < hi and 0.05 < hi - lo < 0.2
    lo_f1, hi_f1 = bootstrap_interval(labels, preds, "macro_f1", num_classes=7, samples=300)
    assert 0 < lo_f1 < hi_f1 < 1
    with pytest.raises(ValueError):
        bootstrap_interval(labels, preds, "recall")
    with pytest.raises(ValueError):
        bootstrap_interval([], [])


def product_photo() -> Image.Image:
    canvas = Image.new("RGB", (300, 240), (255, 255, 255))
    canvas.paste(Image.new("RGB", (120, 150), (30, 90, 160)), (90, 45))
    return canvas


def test_near_white_mask_finds_the_background():
    mask = near_white_mask(product_photo())
    assert mask[0, 0] and not mask[120, 150]
    assert 0.6 < mask.mean() < 0.8


@pytest.mark.parametrize("condition", CONDITIONS)
def test_every_condition_gives_a_decodable_upload_deterministically(condition):
    photo = product_photo()
    data = perturb(photo, condition, seed=3)
    assert data == perturb(photo, condition, seed=3)
    decoded = decode_image(data)
    assert decoded.mode == "RGB"
    if condition == "phone_photo":
        assert max(decoded.size) == 4032
    if condition == "greyscale":
        pixels = np.asarray(decoded, dtype=np.int16)
        assert np.abs(pixels[..., 0] - pixels[..., 2]).max() <= 6


def test_textured_background_changes_only_the_background():
    photo = product_photo()
    out = np.asarray(Image.open(io.BytesIO(perturb(photo, "textured_background", 1))), np.int16)
    assert np.abs(out[100:180, 110:190] - (30, 90, 160)).mean() < 8  # product kept
    assert np.abs(out[:30, :30] - 255).mean() > 40  # white background replaced


def test_unknown_condition():
    with pytest.raises(ValueError, match="unknown condition"):
        perturb(product_photo(), "snow")


def test_pairs_from_confusion_round_trip():
    from flipkart_contract.calibration import pairs_from_confusion
    from flipkart_contract.evaluation import confusion_matrix

    matrix = [[3, 1, 0], [0, 2, 0], [1, 0, 4]]
    labels, preds = pairs_from_confusion(matrix)
    assert len(labels) == 11
    assert confusion_matrix(labels, preds, 3).tolist() == matrix


def test_recipe_key_ignores_the_seed_and_paths_only():
    from flipkart_contract.schema import RunMetrics, recipe_key
    from flipkart_contract.testing import metrics_dict

    def run(seed, lr=1e-3, run_id="20261123-101500_tiny_finetune"):
        data = metrics_dict(run_id)
        data["config"] = {"seed": seed, "lr": lr, "run_id": run_id, "runs_dir": f"/tmp/{seed}"}
        return RunMetrics.model_validate(data)

    assert recipe_key(run(0)) == recipe_key(run(1, run_id="20261123-111500_tiny_finetune"))
    assert recipe_key(run(0)) != recipe_key(run(0, lr=5e-4))
