"""Fixtures shared by the tests that run the backend: uv, and a tiny promoted model."""

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN_ID = "20261123-000000_tiny_net_finetune"

# A promoted tiny ONNX model (the backend's test helper, which needs `onnx`: the backend's dev
# environment has it, the service's does not), a probe image and a small labelled split (the
# contract's fixture builders and class names).
FIXTURE_SCRIPT = """
import csv, sys
from pathlib import Path
from flipkart_contract.testing import FLIPKART_CLASSES, image_bytes
sys.path.insert(0, sys.argv[2])
from helpers import write_model, write_registry
root, run_id = Path(sys.argv[1]), sys.argv[3]
write_model(root, run_id)
write_registry(root, run_id, [run_id])
(root / "probe.png").write_bytes(image_bytes())
images = root / "images"
images.mkdir()
with open(root / "splits.csv", "w", newline="") as out:
    writer = csv.writer(out)
    writer.writerow(["image", "label", "split"])
    for i, label in enumerate(FLIPKART_CLASSES * 2):
        name = f"{i:02d}.png"
        color = (37 * i % 256, 91 * i % 256, 53 * i % 256)
        (images / name).write_bytes(image_bytes(color=color))
        writer.writerow([name, label, "test" if i % 2 == 0 else "train"])
"""


def uv_binary() -> str | None:
    return os.environ.get("UV") or shutil.which("uv")


def tiny_artifacts(tmp_path: Path, uv: str) -> Path:
    """artifacts/ with a promoted tiny model, plus probe.png, images/ and splits.csv."""
    root = tmp_path / "artifacts"
    root.mkdir()
    backend = REPO / "backend"
    command = [uv, "run", "--project", str(backend), "--locked", "--quiet", "python", "-c"]
    result = subprocess.run(
        [*command, FIXTURE_SCRIPT, str(root), str(backend / "tests"), RUN_ID],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"could not build the model fixture:\n{result.stderr}"
    return root
