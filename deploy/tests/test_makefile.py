"""The Makefile as a new user meets it: `make help` lists every target and the variables."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = ROOT / "Makefile"
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def make(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    env.pop("HOST", None)
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def phony_targets() -> list[str]:
    """Every .PHONY target, with make's own expansion (test-<project> included)."""
    database = make("-pq", "help").stdout  # -q: nothing runs; -p: the expanded database
    lines = [line for line in database.splitlines() if line.startswith(".PHONY:")]
    assert lines, "no .PHONY line in make's database"
    return sorted({t for line in lines for t in line.split(":", 1)[1].split()})


def help_text() -> str:
    result = make("help")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_public_target_is_in_make_help():
    listed = {line.split()[0] for line in help_text().splitlines() if line.startswith("  ")}
    targets = phony_targets()
    assert {"test-backend", "test-frontend", "test-notebook-pytorch", "test-notebook-tf"} <= set(
        targets
    )
    missing = [t for t in targets if t not in listed]
    assert not missing, f"missing from make help: {missing}"


def test_make_help_documents_the_demo_variables():
    text = help_text()
    for variable in ("API_PORT=8000", "UI_PORT=7860", "HOST=127.0.0.1"):
        assert variable in text


def test_make_help_says_leaderboard_rewrites_committed_files():
    line = next(line for line in help_text().splitlines() if line.split()[:1] == ["leaderboard"])
    assert "README.md" in line and "artifacts/leaderboard" in line


def test_demo_listens_on_loopback_unless_asked():
    default = make("-n", "demo", "UV=/bin/true").stdout
    assert "HOST=127.0.0.1" in default and "deploy/demo.sh" in default
    asked = make("-n", "demo", "UV=/bin/true", "HOST=0.0.0.0").stdout
    assert "HOST=0.0.0.0" in asked


def test_no_uv_sync_is_silenced():
    """A first `uv sync` of a big environment downloads for minutes: uv must show progress."""
    recipes = [line for line in MAKEFILE.read_text().splitlines() if line.startswith("\t")]
    quiet_syncs = [line.strip() for line in recipes if re.search(r"uv\)? sync\b.*--quiet", line)]
    assert not quiet_syncs
