"""The command model-check.yml runs, `python -m flipkart_api.tools.evaluate`, keeps its
contract (deploy/README.md): the same flags, a JSON report, exit 0 / 3 / 2."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from fixtures import REPO, RUN_ID, tiny_artifacts, uv_binary

WORKFLOW = REPO / ".github" / "workflows" / "model-check.yml"
ENTRY_POINT = "flipkart_api.tools.evaluate"
MODULE = REPO / "backend" / "src" / "flipkart_api" / "tools" / "evaluate.py"
REPORT_KEYS = {"run_id", "architecture", "split", "num_images", "accuracy", "macro_f1"}
REPORT_KEYS |= {"per_class", "confusion_matrix", "classes", "card_accuracy", "min_accuracy"}
REPORT_KEYS |= {"passed"}


def workflow_command() -> str:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["check"]["steps"]
    (step,) = [s for s in steps if ENTRY_POINT in s.get("run", "")]
    return step["run"]


def test_the_workflow_calls_the_backend_evaluation_with_the_documented_flags():
    command = workflow_command()
    assert "uv run --project backend --locked" in command
    for flag in ("--splits data/splits.csv", "--images data/images", "--split test"):
        assert flag in command
    assert re.search(r"--min-accuracy \"\$MIN_ACCURACY\"", command)
    assert "-ne 3" in command  # 3 = below the threshold; other non-zero codes break the run


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory):
    if not MODULE.is_file():
        pytest.skip(f"{MODULE.relative_to(REPO)} is not written yet (contract in deploy/README.md)")
    uv = uv_binary()
    if uv is None:
        pytest.skip("no uv on PATH and no $UV")
    return tiny_artifacts(tmp_path_factory.mktemp("model-check"), uv)


def evaluate(root: Path, *extra: str) -> tuple[int, dict | None, str]:
    output = root / "report.json"
    output.unlink(missing_ok=True)
    backend = ["run", "--project", str(REPO / "backend"), "--locked", "--quiet"]
    module = ["python", "-m", ENTRY_POINT, "--output", str(output)]
    result = subprocess.run(
        [uv_binary(), *backend, *module, *extra],
        env=os.environ | {"FLIPKART_ARTIFACTS_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(output.read_text()) if output.is_file() else None
    return result.returncode, report, result.stderr


def split_args(root: Path) -> list[str]:
    return ["--splits", str(root / "splits.csv"), "--images", str(root / "images")]


def test_report_and_passing_exit_code(fixture_root):
    code, report, stderr = evaluate(
        fixture_root, *split_args(fixture_root), "--split", "test", "--min-accuracy", "0"
    )
    assert code == 0, stderr
    assert set(report) >= REPORT_KEYS
    assert report["run_id"] == RUN_ID and report["split"] == "test"
    assert report["architecture"] == "tiny_net"  # the card's, as in the run id
    assert report["num_images"] == 7  # one test image per class in the fixture
    assert 0.0 <= report["accuracy"] <= 1.0 and report["passed"] is True


def test_below_the_threshold_exits_3(fixture_root):
    code, report, stderr = evaluate(
        fixture_root, *split_args(fixture_root), "--split", "test", "--min-accuracy", "1.01"
    )
    assert code == 3, stderr
    assert report["passed"] is False


def test_run_id_picks_the_model(fixture_root):
    args = [*split_args(fixture_root), "--split", "test"]
    code, report, stderr = evaluate(fixture_root, *args, "--run-id", RUN_ID)
    assert code == 0, stderr
    assert report["run_id"] == RUN_ID
    unknown = "20261123-000000_other_net_finetune"
    code, report, stderr = evaluate(fixture_root, *args, "--run-id", unknown)
    assert code == 2 and report is None
    assert unknown in stderr


def test_bad_input_exits_2(fixture_root):
    missing = ["--splits", str(fixture_root / "nope.csv"), "--images", str(fixture_root)]
    code, _, stderr = evaluate(fixture_root, *missing, "--split", "test")
    assert code == 2, stderr
    assert "nope.csv" in stderr
