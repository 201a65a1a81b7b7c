"""Reading the split: clear errors for missing data or unknown classes, and the image cache."""

from __future__ import annotations

from pathlib import Path

import flipkart_torch.data as data_module
import numpy as np
import pytest
from conftest import CLASSES
from flipkart_contract import ResizePolicy
from flipkart_torch.data import (
    DataError,
    check_classes,
    check_images,
    load_eval_view,
    load_split,
    read_splits,
)

POLICY = ResizePolicy(method="pad", size=24, interpolation="bilinear")


def test_missing_splits_csv_says_how_to_prepare_data(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="make data"):
        read_splits(tmp_path / "splits.csv")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("image,label\na.jpg,Watches\n", "missing column"),
        ("image,label,split\na.jpg,Watches,holdout\n", "holdout"),
    ],
)
def test_a_malformed_splits_csv_is_refused_by_the_contract(
    tmp_path: Path, text: str, says: str
) -> None:
    path = tmp_path / "splits.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=says):
        read_splits(path)


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
    # The training and evaluation data are the eval views of the files, in name order.
    for i, name in enumerate(first.names):
        np.testing.assert_array_equal(
            first.images[i], load_eval_view(tiny_data / "images" / name, POLICY)
        )
    data_module._MEMORY_CACHE.clear()

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a JPEG although the cache holds it")

    monkeypatch.setattr(data_module, "model_view", no_decoding)
    again = load_split(table, "val", CLASSES, tiny_data / "images", POLICY, cache_dir=tmp_path)
    assert (again.images == first.images).all()
    assert list(again.labels) == list(first.labels)


def test_another_policy_is_another_cache_entry(tiny_data: Path, tmp_path: Path) -> None:
    data_module._MEMORY_CACHE.clear()
    table = read_splits(tiny_data / "splits.csv")
    load_split(table, "val", CLASSES, tiny_data / "images", POLICY, cache_dir=tmp_path)
    crop = POLICY.model_copy(update={"method": "crop", "crop_pct": 0.875})
    again = load_split(table, "val", CLASSES, tiny_data / "images", crop, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 2
    name = tiny_data / "images" / again.names[0]
    np.testing.assert_array_equal(again.images[0], load_eval_view(name, crop))


def test_an_unreadable_image_is_named(tiny_data: Path, tmp_path: Path) -> None:
    table = read_splits(tiny_data / "splits.csv")
    images = tmp_path / "images"
    images.mkdir()
    for name in table["image"]:
        (images / name).write_bytes((tiny_data / "images" / name).read_bytes())
    broken = sorted(table[table["split"] == "test"]["image"])[0]
    (images / broken).write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=broken):
        load_split(table, "test", CLASSES, images, POLICY)
