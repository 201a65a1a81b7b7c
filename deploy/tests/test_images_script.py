"""What `make images` (deploy/images.sh) relies on in the Dockerfiles; the build itself needs
Docker and minutes, so it is not part of the suite (see deploy/README.md for its timings)."""

import re
import subprocess
from pathlib import Path

import pytest
from dockerfile import parse

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["backend", "frontend"]


@pytest.mark.parametrize("project", SERVICES)
def test_the_python_base_is_one_build_argument(project):
    text = (ROOT / project / "Dockerfile").read_text()
    # A `# syntax=` line makes BuildKit pull its frontend from Docker Hub: no offline build.
    assert not re.search(r"^#\s*syntax=", text, re.MULTILINE)
    assert re.search(r"^ARG PYTHON_BASE=python-base$", text, re.MULTILINE)
    raw_froms = re.findall(r"^FROM (\S+.*)$", text, re.MULTILINE)
    # The official base stays a literal FROM line (Dependabot bumps it); the build stage and the
    # runtime stage share PYTHON_BASE, so the venv's links to its python stay valid.
    assert raw_froms[1:] == [
        "python:3.11-slim-bookworm AS python-base",
        "${PYTHON_BASE} AS build",
        "${PYTHON_BASE}",
    ], raw_froms
    assert parse(text)[-1].image == "python:3.11-slim-bookworm"


def test_images_script_reads_the_pinned_uv_version():
    script = (ROOT / "deploy" / "images.sh").read_text()
    sed = re.search(r"UV_VERSION=\$\(sed -n '([^']+)' backend/Dockerfile\)", script)
    assert sed, "images.sh no longer reads uv's version from backend/Dockerfile"
    version = subprocess.run(
        ["sed", "-n", sed[1], str(ROOT / "backend" / "Dockerfile")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    makefile = (ROOT / "Makefile").read_text()
    assert version and f"UV_VERSION := {version}" in makefile
