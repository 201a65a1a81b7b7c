import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parent))

from synthetic import make_split


@pytest.fixture(scope="session")
def split_dir(tmp_path_factory) -> Path:
    """A tiny synthetic split (7 classes; 3 train, 1 val, 2 test images each)."""
    root = tmp_path_factory.mktemp("split")
    make_split(root, {"train": 3, "val": 1, "test": 2})
    return root


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, split_dir):
    """One real 1-epoch training run of the tiny CNN, with a corrupt image in the split."""
    from flipkart_tf.train import TrainConfig, train

    root = tmp_path_factory.mktemp("run")
    corrupt = split_dir / "images" / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    csv = root / "splits.csv"
    csv.write_text((split_dir / "splits.csv").read_text() + '"corrupt.jpg","Watches",train\n')
    config = TrainConfig(
        architecture="tiny_cnn",
        epochs=2,
        batch_size=8,
        image_size=32,
        threads=2,
        splits_csv=str(csv),
        images_dir=str(split_dir / "images"),
        runs_dir=str(root / "runs"),
        checkpoints_dir=str(root / "checkpoints"),
    )
    with pytest.warns(UserWarning, match="skipping unreadable image corrupt.jpg"):
        run_dir = train(config)
    return {"run_dir": run_dir, "root": root, "config": config, "csv": csv}
