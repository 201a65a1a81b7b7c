"""The files `data/prepare.py` writes into the assets folder, loaded and checked."""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

DASHBOARD_COLUMNS = [
    "image",
    "label",
    "product_name",
    "brand",
    "price",
    "description_length",
    "original_width",
    "original_height",
    "original_bytes",
    "aspect_ratio",
    "split",
]
SAMPLE_COLUMNS = ["image", "label", "product_name", "split"]
SAMPLE_TEXT_COLUMNS = ["title", "description"]  # the listing's text; optional (older assets)


class AssetsError(ValueError):
    """An assets file exists but does not follow its contract."""


@dataclass(frozen=True)
class Sample:
    image: str
    label: str
    product_name: str
    path: Path
    listing_title: str = ""  # the product's title as its listing gives it (prefills the form)
    description: str = ""

    @property
    def title(self) -> str:
        name = self.product_name if len(self.product_name) <= 60 else self.product_name[:57] + "…"
        return f"{self.label} — {name}"


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    frame = pd.read_csv(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise AssetsError(f"{path.name} lacks the columns {', '.join(missing)}")
    return frame


def load_dashboard(assets_dir: Path) -> pd.DataFrame | None:
    """None when the file is not there yet (`make data` has not run)."""
    path = assets_dir / "dataset_dashboard.csv"
    if not path.is_file():
        return None
    frame = _read(path, DASHBOARD_COLUMNS)
    frame["product_name"] = frame["product_name"].fillna("").astype(str)
    frame["brand"] = frame["brand"].fillna("").astype(str)
    return frame


def load_samples(assets_dir: Path) -> list[Sample]:
    """Samples whose image file exists, ordered by category then name."""
    path = assets_dir / "sampled.csv"
    if not path.is_file():
        return []
    frame = _read(path, SAMPLE_COLUMNS).sort_values(["label", "product_name"])
    for column in SAMPLE_TEXT_COLUMNS:
        frame[column] = frame[column].fillna("").astype(str) if column in frame else ""
    samples = []
    for row in frame.itertuples(index=False):
        image_path = assets_dir / "images" / str(row.image)
        if image_path.is_file():
            samples.append(
                Sample(
                    str(row.image),
                    str(row.label),
                    str(row.product_name),
                    image_path,
                    listing_title=row.title,
                    description=row.description,
                )
            )
    return samples
