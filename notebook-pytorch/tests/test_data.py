"""Reading the split: clear errors for missing data or unknown classes, and the image cache."""

from __future__ import annotations

from pathlib import Path

import flipkart_torch.data as data_module
import pytest
from conftest import CLASSES
from flipkart_torch.data import DataError, check_classes, check_images, load_split, read_splits

POLICY = {
    "mode": "pad",
    "size": 24,
    "interpolation": "bilinear",
    "crop_pct": 1.0,
    "pad_color": [255, 255, 255],
}


def test_missing_splits_csv_says_how_to_prepare_data(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="make data"):
        read_splits(tmp_path / "splits.csv")


def test_missing_images_say_how_to_prepare_data(tiny_data: Path, tmp_path: Path) -> None:
    table = read_splits(tiny_data / "splits.csv")
    with pytest.raises(DataError, match="make data"):
        check_images(table, tmp_path / "nowhere")
    (tmp_path / "images").mkdir()
    with pytest.raises(DataError, match="missing"):
        check_images(table, tmp_path / "images")


def test_a_class_unknown_to_the_model_is_named() -> None:
    with pytest.raises(DataError, match="Stripes"):
        check_classes(CLASSES, ["Circles", "Squares"])


def test_split_is_decoded_once_then_read_from_the_disk_cache(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = read_splits(tiny_data / "splits.csv")
    first = load_split(table, "val", CLASSES, tiny_data / "images", POLICY, cache_dir=tmp_path)
    assert first.images.shape == (9, 24, 24, 3)
    assert list(tmp_path.glob("*.npy"))
    data_module._MEMORY_CACHE.clear()

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a JPEG although the cache holds it")

    monkeypatch.setattr(data_module.Image, "open", no_decoding)
    again = load_split(table, "val", CLASSES, tiny_data / "images", POLICY, cache_dir=tmp_path)
    assert (again.images == first.images).all()
    assert list(again.labels) == list(first.labels)
