"""merged_notebook.ipynb (repository root) re-executes against the committed runs/ and
artifacts/, and the committed copy shows the decision that artifacts/registry.json holds."""

from __future__ import annotations

import json
from pathlib import Path

import papermill
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "merged_notebook.ipynb"


def outputs_text(notebook: dict) -> str:
    parts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", [])))
            parts.append("".join(output.get("data", {}).get("text/plain", [])))
    return "\n".join(parts)


def errors(notebook: dict) -> list[str]:
    return [
        f"{o.get('ename')}: {o.get('evalue')}"
        for cell in notebook["cells"]
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]


def test_committed_notebook_has_outputs_and_the_current_decision() -> None:
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert not errors(notebook)
    images = [
        o
        for c in notebook["cells"]
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    assert len(images) >= 4, "commit the notebook executed with its static figures (make notebook)"
    registry = json.loads((REPO / "artifacts" / "registry.json").read_text(encoding="utf-8"))
    assert f"production: {registry['production']}" in outputs_text(notebook), (
        "merged_notebook.ipynb is stale: re-run `make notebook` after `make promote`"
    )


def test_notebook_executes_against_the_committed_runs(tmp_path: Path) -> None:
    runs = sorted(
        p for f in ("pytorch", "tensorflow") for p in (REPO / "runs" / f).glob("*/metrics.json")
    )
    if not runs:
        pytest.skip("no committed runs")
    output = tmp_path / "merged.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(output),
        parameters={"STATIC_FIGURES": False},  # Kaleido's Chromium is not needed to test logic
        cwd=str(REPO),
        progress_bar=False,
        kernel_name="python3",
    )
    executed = json.loads(output.read_text(encoding="utf-8"))
    assert not errors(executed)
    text = outputs_text(executed)
    assert f"{len(runs)} runs" in text
    registry = json.loads((REPO / "artifacts" / "registry.json").read_text(encoding="utf-8"))
    if registry.get("listing"):  # the listing section: its table and what the text fixes
        assert f"listing: {registry['listing']}" in text and "both - photo" in text
    frameworks = {p.parent.parent.name for p in runs}
    for framework in frameworks:
        assert framework in text
    plotly = [
        o
        for c in executed["cells"]
        for o in c.get("outputs", [])
        if "application/vnd.plotly.v1+json" in o.get("data", {})
    ]
    assert len(plotly) >= 3  # curves, confusion matrices, per-class F1 (+ the scatter)
