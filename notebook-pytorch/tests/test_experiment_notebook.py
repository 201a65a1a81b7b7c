"""experiment.ipynb runs one experiment through the package on a tiny synthetic split (tiny
model, 1 epoch, 32 px) with runs and checkpoints in tmp_path; the committed copy has outputs."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill
from conftest import TINY_MODEL, make_split

NOTEBOOK = Path(__file__).resolve().parents[1] / "experiment.ipynb"
REPO_RUNS = NOTEBOOK.parents[1] / "runs"


def outputs(notebook: dict, kind: str | None = None) -> list[dict]:
    found = [o for c in notebook["cells"] for o in c.get("outputs", [])]
    return [o for o in found if kind is None or kind in o.get("data", {})]


def text_of(notebook: dict) -> str:
    return "".join("".join(o.get("text", [])) for o in outputs(notebook))


def errors(notebook: dict) -> list[dict]:
    return [o for o in outputs(notebook) if o.get("output_type") == "error"]


def test_committed_notebook_is_parameterised_and_has_its_results() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "RUNS_DIR" in tagged[0].source
    assert not errors(notebook)
    assert "test accuracy" in text_of(notebook)
    assert len(outputs(notebook, "image/png")) >= 2, "commit it executed: curves + confusion"
    assert f"-> {REPO_RUNS}" not in text_of(notebook), "its run must not land in runs/"


def test_notebook_runs_one_experiment_on_a_tiny_split(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the kernel's scratch folder lands here too
    data = make_split(tmp_path / "data", {"train": 4, "val": 2, "test": 2})
    executed = tmp_path / "executed.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(executed),
        parameters={
            "ARCHITECTURE": TINY_MODEL,
            "TRAINING_MODE": "finetune",
            "PRETRAINED": False,
            "EPOCHS": 1,
            "IMAGE_SIZE": 32,
            "BATCH_SIZE": 3,
            "LIMIT_PER_CLASS": 3,
            "NUM_THREADS": 2,
            "STATIC_FIGURES": False,
            "SPLITS_CSV": str(data / "splits.csv"),
            "IMAGES_DIR": str(data / "images"),
            "CACHE_DIR": "",
            "RUNS_DIR": str(tmp_path / "runs"),
            "CHECKPOINTS_DIR": str(tmp_path / "checkpoints"),
        },
        cwd=str(tmp_path),
        progress_bar=False,
        kernel_name="python3",
    )
    (run_dir,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["architecture"] == TINY_MODEL and metrics["training_mode"] == "finetune"
    assert metrics["epochs_run"] == 1
    assert metrics["data"]["num_train"] == 3 * 3  # LIMIT_PER_CLASS reached train()
    notebook = json.loads(executed.read_text())
    assert not errors(notebook)
    assert "test accuracy" in text_of(notebook)
    assert len(outputs(notebook, "application/vnd.plotly.v1+json")) == 2  # curves, confusion
