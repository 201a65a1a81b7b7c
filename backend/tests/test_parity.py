"""Preprocessing parity: the backend's Pillow/NumPy path vs each lab's own eval transform.

The fixtures (`parity/lab_views.npz`) were exported by the labs' code through
`parity/make_fixtures.py`; regenerate them when a lab's transform changes.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from flipkart_api.preprocess import ResizePolicy, decode_image, resize

FIXTURES = Path(__file__).parent / "parity" / "lab_views.npz"
VIEWS = np.load(FIXTURES)
INDEX = json.loads(VIEWS["index"].tobytes())
CASES = [(case["image"], case["policy"]) for case in INDEX["cases"]]


@pytest.mark.parametrize("lab", ["pytorch", "tensorflow"])
@pytest.mark.parametrize(("image", "policy"), CASES)
def test_backend_sees_what_the_lab_trained_on(image: str, policy: int, lab: str) -> None:
    card_policy = ResizePolicy.from_card(INDEX["policies"][policy])
    data = VIEWS[f"{image}/bytes"].tobytes()
    ours = np.asarray(resize(decode_image(data, 10**8, card_policy), card_policy), np.int16)
    theirs = VIEWS[f"{image}/{policy}/{lab}"].astype(np.int16)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() <= 1
