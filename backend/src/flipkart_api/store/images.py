"""Opt-in keeping of uploaded images as retraining data: content-addressed files, a size cap."""

import csv
import io
import logging
import os
import tempfile
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import Engine

from flipkart_api.store import repository

log = logging.getLogger(__name__)


EXPORT_COLUMNS = [
    "file",
    "sha256",
    "run_id",
    "predicted_label",
    "confidence",
    "title",
    "description",
    "feedback_label",
    "label_source",
    "labelled_at",
]


def image_extension(data: bytes) -> str:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return (image.format or "bin").lower()
    except (UnidentifiedImageError, OSError, ValueError):
        return "bin"


class ImageKeeper:
    """Writes `<folder>/<sha[:2]>/<sha>.<ext>` once per image, while the total stays under a cap.

    Confident predictions are kept at once. The others wait in a small in-memory buffer of
    recent images (this process only, oldest forgotten first) and are kept if feedback on them
    arrives while they are still there: the usual "predict, then correct" flow of the UI.
    """

    def __init__(
        self,
        folder: Path,
        max_bytes: int,
        min_confidence: float,
        recent_max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.min_confidence = min_confidence
        self.recent_max_bytes = recent_max_bytes
        self._recent: OrderedDict[str, bytes] = OrderedDict()
        self._recent_bytes = 0
        self._lock = threading.Lock()  # the cap check and the write go together

    def keep(self, engine: Engine, data: bytes, sha256: str, confidence: float) -> bool:
        if confidence < self.min_confidence:
            self._remember(sha256, data)
            return False
        return self._write(engine, data, sha256)

    def keep_after_feedback(self, engine: Engine, sha256: str) -> bool:
        with self._lock:
            data = self._recent.pop(sha256, None)
            if data is not None:
                self._recent_bytes -= len(data)
        return data is not None and self._write(engine, data, sha256)

    def _remember(self, sha256: str, data: bytes) -> None:
        if len(data) > self.recent_max_bytes:
            return
        with self._lock:
            if sha256 in self._recent:
                return
            self._recent[sha256] = data
            self._recent_bytes += len(data)
            while self._recent_bytes > self.recent_max_bytes:
                _, dropped = self._recent.popitem(last=False)
                self._recent_bytes -= len(dropped)

    def _write(self, engine: Engine, data: bytes, sha256: str) -> bool:
        with self._lock:
            used = repository.kept_bytes(engine)
            if used + len(data) > self.max_bytes:
                log.warning(
                    "image not kept: size cap reached",
                    extra={"used_bytes": used, "max_bytes": self.max_bytes},
                )
                return False
            relative = f"{sha256[:2]}/{sha256}.{image_extension(data)}"
            target = self.folder / relative
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                handle, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, target)
            return repository.add_kept_image(engine, sha256, relative, len(data))

    def export_zip(self, engine: Engine, destination: Path) -> int:
        """`images/<file>` for each kept image plus `labels.csv`; returns the image count.

        `labels.csv` has one row per prediction on a kept image; `label_source` says who gave
        `feedback_label` (`feedback-token`: the client that got the prediction; `admin`: the
        admin key; `unverified`: before tokens existed) and `labelled_at` when (UTC).
        """
        rows = repository.kept_images(engine)
        with zipfile.ZipFile(destination, "w", zipfile.ZIP_STORED) as archive:
            manifest = io.StringIO()
            writer = csv.writer(manifest)
            writer.writerow(EXPORT_COLUMNS)
            count = 0
            for image, predictions in rows:
                path = self.folder / image.file
                if not path.is_file():
                    log.warning("kept image missing on disk", extra={"file": image.file})
                    continue
                archive.write(path, f"images/{image.file}")
                count += 1
                for p in predictions:
                    at = p.feedback_at
                    writer.writerow(
                        [
                            image.file,
                            image.sha256,
                            p.run_id,
                            p.label,
                            f"{p.confidence:.6f}",
                            p.title or "",
                            p.description or "",
                            p.feedback_label or "",
                            p.feedback_source or "",
                            at.strftime("%Y-%m-%dT%H:%M:%SZ") if at is not None else "",
                        ]
                    )
            archive.writestr("labels.csv", manifest.getvalue())
        return count
