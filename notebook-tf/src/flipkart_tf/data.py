"""The Flipkart split as tf.data pipelines.

Images are decoded and resized once by the contract (`preprocess.load_image`: the card's resize
policy, identical to the PyTorch lab and the server) into an in-memory uint8 cache; tf.data then
shuffles, augments, batches and prefetches. Unreadable images are skipped with a warning, never
a crash.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import flipkart_contract
import numpy as np
import tensorflow as tf
from flipkart_contract import ResizePolicy

from flipkart_tf.preprocess import load_image

Row = dict[str, str]  # one row of splits.csv: image, label, split


class DataError(RuntimeError):
    """The data folder is missing or malformed; the message says what to do."""


@dataclass
class SplitArrays:
    images: np.ndarray  # uint8 [N, size, size, 3]
    labels: np.ndarray  # int32 [N]
    names: list[str]  # file names, same order
    skipped: list[str]


def read_splits(splits_csv: str | os.PathLike[str]) -> list[Row]:
    """The rows of splits.csv (the contract's reader), with errors that say what to do."""
    path = Path(splits_csv)
    if not path.is_file():
        raise DataError(f"{path} not found: run `make data` at the repository root first")
    try:
        rows = flipkart_contract.read_splits(path)
    except ValueError as error:
        raise DataError(str(error)) from error
    if not rows:
        raise DataError(f"{path} has no rows: run `make data` again")
    return rows


def load_split(
    rows: list[Row],
    split: str,
    images_dir: str | Path,
    classes: list[str],
    policy: ResizePolicy,
    limit: int | None = None,
    progress: bool = True,
) -> SplitArrays:
    """Decode + resize every image of one split; unreadable files are skipped with a warning."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise DataError(f"{images_dir} not found: run `make data` at the repository root first")
    rows = [row for row in rows if row["split"] == split][:limit]
    index = {name: i for i, name in enumerate(classes)}
    arrays, labels, names, skipped = [], [], [], []
    total = len(rows)
    for done, row in enumerate(rows, 1):
        name, label = row["image"], row["label"]
        if label not in index:
            raise DataError(f"label {label!r} of {name} is not one of the classes {classes}")
        try:
            arrays.append(load_image(images_dir / name, policy))
        except (OSError, ValueError, SyntaxError) as error:
            warnings.warn(f"skipping unreadable image {name}: {error}", stacklevel=2)
            skipped.append(name)
            continue
        labels.append(index[label])
        names.append(name)
        if progress and (done % 200 == 0 or done == total):
            print(f"  {split}: {done}/{total} images decoded", file=sys.stderr, flush=True)
    if not arrays:
        raise DataError(f"no readable image in the {split!r} split of {images_dir}")
    size = policy.size
    return SplitArrays(
        images=np.stack(arrays).astype(np.uint8).reshape(-1, size, size, 3),
        labels=np.asarray(labels, dtype=np.int32),
        names=names,
        skipped=skipped,
    )


def augment(
    image: tf.Tensor, pad_color: tuple[int, int, int], max_shift: float = 0.08
) -> tf.Tensor:
    """Random horizontal flip, a small random shift (filled with the pad colour), brightness."""
    size = tf.shape(image)[0]
    pad = tf.cast(tf.cast(size, tf.float32) * max_shift, tf.int32)
    color = tf.constant(pad_color, tf.float32)
    image = tf.image.random_flip_left_right(image)
    padded = tf.pad(image - color, [[pad, pad], [pad, pad], [0, 0]]) + color
    image = tf.image.random_crop(padded, tf.shape(image))
    image = image + tf.random.uniform([], -20.0, 20.0)
    return tf.clip_by_value(image, 0.0, 255.0)


def make_dataset(
    arrays: SplitArrays,
    num_classes: int,
    batch_size: int,
    training: bool,
    seed: int = 0,
    pad_color: tuple[int, int, int] = (255, 255, 255),
) -> tf.data.Dataset:
    """(pixels float32 0–255 NHWC, one-hot labels) batches; shuffled + augmented when training."""
    dataset = tf.data.Dataset.from_tensor_slices((arrays.images, arrays.labels))
    dataset = dataset.map(
        lambda x, y: (tf.cast(x, tf.float32), tf.one_hot(y, num_classes)),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).cache()
    if training:
        dataset = dataset.shuffle(len(arrays.labels), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.map(
            lambda x, y: (augment(x, pad_color), y), num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
