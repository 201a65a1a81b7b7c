"""The tf.data pipeline: shapes, value ranges, both resize methods, and bad input."""

from unittest import mock

import numpy as np
import pytest
from flipkart_contract import ResizePolicy, class_names
from flipkart_contract.testing import FLIPKART_CLASSES
from flipkart_tf import data


@pytest.mark.parametrize("method", ["crop", "pad"])
def test_pipeline_shapes_and_ranges(split_dir, method) -> None:
    rows = data.read_splits(split_dir / "splits.csv")
    classes = class_names(split_dir / "splits.csv")
    assert classes == FLIPKART_CLASSES
    policy = ResizePolicy(method=method, size=24, crop_pct=0.875 if method == "crop" else 1.0)
    arrays = data.load_split(rows, "train", split_dir / "images", classes, policy)
    assert arrays.images.shape == (21, 24, 24, 3) and arrays.images.dtype == np.uint8
    assert sorted(set(arrays.labels.tolist())) == list(range(7))
    for training in (False, True):
        dataset = data.make_dataset(arrays, 7, batch_size=8, training=training, seed=1)
        batches = list(dataset)
        assert [len(x) for x, _ in batches] == [8, 8, 5]
        for pixels, onehot in batches:
            assert pixels.dtype.name == "float32" and pixels.shape[1:] == (24, 24, 3)
            assert float(np.min(pixels)) >= 0.0 and float(np.max(pixels)) <= 255.0
            assert onehot.shape[1] == 7 and np.allclose(np.sum(onehot, axis=1), 1.0)
    # evaluation batches are the cached arrays unchanged, in order
    pixels, onehot = next(iter(data.make_dataset(arrays, 7, 32, training=False)))
    np.testing.assert_array_equal(pixels.numpy(), arrays.images.astype(np.float32))
    np.testing.assert_array_equal(np.argmax(onehot, axis=1), arrays.labels)


def test_pad_method_pixels_outside_the_product_are_white(split_dir) -> None:
    rows = data.read_splits(split_dir / "splits.csv")
    policy = ResizePolicy(method="pad", size=32)
    arrays = data.load_split(rows, "val", split_dir / "images", FLIPKART_CLASSES, policy)
    # synthetic images are white with a coloured centre: every corner stays (near) white
    corners = arrays.images[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert corners.min() >= 230


def test_missing_splits_says_make_data(tmp_path) -> None:
    with pytest.raises(data.DataError, match="make data"):
        data.read_splits(tmp_path / "splits.csv")


def test_missing_images_dir_says_make_data(split_dir, tmp_path) -> None:
    rows = data.read_splits(split_dir / "splits.csv")
    with pytest.raises(data.DataError, match="make data"):
        data.load_split(
            rows, "train", tmp_path / "nope", FLIPKART_CLASSES, ResizePolicy(method="pad", size=16)
        )


def test_every_image_goes_through_load_image(split_dir) -> None:
    """The pipeline's pixels are `preprocess.load_image`'s (what the parity test checks)."""
    rows = data.read_splits(split_dir / "splits.csv")
    policy = ResizePolicy(method="crop", size=16, crop_pct=0.875)
    with mock.patch.object(data, "load_image", wraps=data.load_image) as spy:
        arrays = data.load_split(rows, "test", split_dir / "images", FLIPKART_CLASSES, policy)
    assert [c.args[0].name for c in spy.call_args_list] == arrays.names
    assert all(c.args[1] is policy for c in spy.call_args_list)


def test_malformed_splits_are_refused(tmp_path) -> None:
    path = tmp_path / "splits.csv"
    path.write_text("image,label\na.jpg,Watches\n")
    with pytest.raises(data.DataError, match="column"):
        data.read_splits(path)
    path.write_text("image,label,split\na.jpg,Watches,holdout\n")
    with pytest.raises(data.DataError, match="holdout"):
        data.read_splits(path)
    path.write_text("image,label,split\n")
    with pytest.raises(data.DataError, match="no rows"):
        data.read_splits(path)


def test_corrupt_and_missing_images_are_skipped_with_a_warning(split_dir, tmp_path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    csv = tmp_path / "splits.csv"
    csv.write_text(
        "image,label,split\nbroken.jpg,Watches,test\ngone.jpg,Watches,test\n"
        + "\n".join(
            line
            for line in (split_dir / "splits.csv").read_text().splitlines()[1:]
            if line.endswith(",test")
        )
        + "\n"
    )
    rows = data.read_splits(csv)
    images = tmp_path / "images"
    images.mkdir()
    for name in (row["image"] for row in rows):
        source = split_dir / "images" / name
        if source.exists():
            (images / name).write_bytes(source.read_bytes())
    (images / "broken.jpg").write_bytes(b"not an image")
    with pytest.warns(UserWarning, match="skipping unreadable image") as caught:
        arrays = data.load_split(
            rows, "test", images, FLIPKART_CLASSES, ResizePolicy(method="pad", size=16)
        )
    assert {"broken.jpg", "gone.jpg"} == set(arrays.skipped)
    assert len(caught) == 2
    assert len(arrays.labels) == len(rows) - 2
