"""experiment.ipynb runs end to end on a tiny synthetic split (tiny CNN, 1 epoch, export)."""

import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parents[1] / "experiment.ipynb"


def test_notebook_executes_on_a_tiny_split(split_dir, tmp_path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    params = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    params[0].source += "\n" + "\n".join(
        [
            'ARCHITECTURE = "tiny_cnn"',
            "EPOCHS = 1",
            "IMAGE_SIZE = 32",
            "BATCH_SIZE = 8",
            f'SPLITS_CSV = "{split_dir / "splits.csv"}"',
            f'IMAGES_DIR = "{split_dir / "images"}"',
            f'RUNS_DIR = "{tmp_path / "runs"}"',
            f'CHECKPOINTS_DIR = "{tmp_path / "checkpoints"}"',
            f'MODELS_DIR = "{tmp_path / "models"}"',
        ]
    )
    NotebookClient(notebook, timeout=600, kernel_name="python3").execute(cwd=str(tmp_path))
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert json.loads((run_dir / "metrics.json").read_text())["epochs_run"] == 1
    card = json.loads((tmp_path / "models" / run_dir.name / "card.json").read_text())
    assert card["parity"]["top1_agreement"] == 1.0
    outputs = "".join(
        o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "test accuracy" in outputs
