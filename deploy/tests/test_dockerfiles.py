"""Both Dockerfiles: their rules, and their own install + start commands run outside Docker."""

import base64
import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from dockerfile import (
    DockerfileError,
    context_files,
    dockerignore_path,
    exec_form,
    included,
    parse,
)
from fixtures import tiny_artifacts, uv_binary
from monitoring import dashboard_metric_names
from replay import replay

REPO = Path(__file__).resolve().parents[2]
SERVICES = {"backend": "flipkart_api", "frontend": "flipkart_ui"}
# How uv places files, not what it installs: hard links from the cache instead of copies and
# no ahead-of-time .pyc compilation take the frontend's install from ~75 s to ~9 s here.
INSTALL_OVERRIDES = {"UV_LINK_MODE": "hardlink", "UV_COMPILE_BYTECODE": "0"}


def require_package(project: str) -> None:
    package = REPO / project / "src" / SERVICES[project]
    if not (package / "__init__.py").is_file():
        pytest.skip(f"{project}/src/{SERVICES[project]} does not exist yet")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, timeout_s: float) -> bytes:
    """The body of the first 200 answer from url; 4xx/5xx and refusals are retried."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the service exited with {process.returncode} before {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}: {error.read()[:500]!r}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last = repr(error)
        time.sleep(0.3)
    raise AssertionError(f"{url} gave no 200 within {timeout_s} s (last: {last})")


def stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.stdout.read() if process.stdout else ""


# --- the reader itself -------------------------------------------------------------------


def test_parse_joins_continuations_and_reads_flags():
    stages = parse(
        "# syntax=docker/dockerfile:1\n"
        "FROM python:3.11-slim AS build\n"
        "RUN --mount=type=cache,target=/root/.cache \\\n"
        "    # a comment inside\n"
        "    uv sync --locked\n"
        'CMD ["a", "b"]\n'
    )
    assert [(s.image, s.name) for s in stages] == [("python:3.11-slim", "build")]
    run, cmd = stages[0].instructions
    assert run.flags == {"mount": ["type=cache,target=/root/.cache"]}
    assert run.body == "uv sync --locked"
    assert exec_form(cmd) == ["a", "b"]


def test_shell_form_cmd_and_unterminated_lines_are_refused():
    (stage,) = parse("FROM x\nCMD python -m app\n")
    with pytest.raises(DockerfileError, match="exec"):
        exec_form(stage.instructions[0])
    with pytest.raises(DockerfileError, match="continued"):
        parse("FROM x\nRUN a \\\n")
    with pytest.raises(DockerfileError, match="before the first FROM"):
        parse("RUN a\nFROM x\n")


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("pyproject.toml", True),
        ("src/pkg/a.py", True),
        ("src/pkg/__pycache__/a.cpython-311.pyc", False),
        ("tests/test_a.py", False),
        (".venv/bin/python", False),
        ("notes.md", False),
    ],
)
def test_dockerignore_matching(path, kept):
    patterns = ["*", "!pyproject.toml", "!src/", "**/__pycache__"]
    assert included(path, patterns) is kept


# --- the rules both images follow --------------------------------------------------------


@pytest.mark.parametrize("project", SERVICES)
def test_dockerfile_rules(project):
    text = (REPO / project / "Dockerfile").read_text()
    stages = parse(text)
    final = stages[-1]
    assert final.image.startswith("python:3.11-slim"), final.image
    assert any(s.image.startswith("ghcr.io/astral-sh/uv:") for s in stages)
    runs = [i for s in stages for i in s.instructions if i.keyword == "RUN"]
    syncs = [r for r in runs if r.body.startswith("uv sync")]
    assert syncs and all("--locked" in r.body and "--no-dev" in r.body for r in syncs)
    assert all(any("type=cache" in m for m in r.flags.get("mount", [])) for r in syncs)
    assert "curl" not in text and "wget" not in text
    keywords = [i.keyword for i in final.instructions]
    final_runs = [i.body for i in final.instructions if i.keyword == "RUN"]
    assert not any("uv " in body for body in final_runs), "uv must stay in the build stage"
    user = [i.body for i in final.instructions if i.keyword == "USER"]
    assert user and user[-1].split(":")[0] not in ("0", "root"), "the image must not run as root"
    assert "HEALTHCHECK" in keywords
    (cmd,) = [exec_form(i) for i in final.instructions if i.keyword == "CMD"]
    assert "PORT" in " ".join(cmd) and "WEBSITES_PORT" in " ".join(cmd)


def test_dockerfile_specific_ignore_file_wins_over_the_contexts(tmp_path):
    dockerfile = tmp_path / "svc" / "Dockerfile"
    dockerfile.parent.mkdir()
    dockerfile.write_text("FROM x\n")
    assert dockerignore_path(dockerfile, tmp_path) == tmp_path / ".dockerignore"
    (tmp_path / "svc" / "Dockerfile.dockerignore").write_text("*\n")
    assert dockerignore_path(dockerfile, tmp_path) == tmp_path / "svc" / "Dockerfile.dockerignore"


@pytest.mark.parametrize("project", SERVICES)
def test_context_keeps_what_the_build_needs_and_nothing_else(project):
    """The context is the repository root (for ../contract), cut down by the Dockerfile's own
    ignore file to the service's and the contract's sources."""
    require_package(project)
    ignore_file = dockerignore_path(REPO / project / "Dockerfile", REPO)
    assert ignore_file == REPO / project / "Dockerfile.dockerignore"
    files = {p.as_posix() for p in context_files(REPO, ignore_file)}
    for needed in ("pyproject.toml", "uv.lock", ".python-version", "README.md"):
        assert f"{project}/{needed}" in files, f"{ignore_file.name} drops {project}/{needed}"
    assert f"{project}/src/{SERVICES[project]}/__init__.py" in files
    for needed in ("pyproject.toml", "README.md", "src/flipkart_contract/__init__.py"):
        assert f"contract/{needed}" in files, f"{ignore_file.name} drops contract/{needed}"
    assert {f.split("/")[0] for f in files} == {project, "contract"}
    assert not any(
        "/.venv/" in f or "/tests/" in f or "__pycache__" in f or f.endswith(".pyc") for f in files
    )


@pytest.mark.parametrize(
    ("project", "workflow"),
    [("backend", "run-build-deploy-api.yml"), ("frontend", "run-build-deploy-ui.yml")],
)
def test_compose_and_the_deploy_workflow_build_what_the_tests_replay(project, workflow):
    """The replay below uses the repository root as context and <project>/Dockerfile: so must
    docker compose and deploy/images.sh, which builds the image for .ci/run and for Azure."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    build = compose["services"][project]["build"]
    assert (build["context"], build["dockerfile"]) == (".", f"{project}/Dockerfile")
    definition = yaml.safe_load((REPO / ".github" / "workflows" / workflow).read_text())
    (job,) = definition["jobs"].values()
    assert job["uses"] == "./.github/workflows/container-deploy.yml"
    # The workflow builds through deploy/images.sh, as .ci/run does (one script, two callers).
    assert job["with"]["service"] == project
    reusable = (REPO / ".github" / "workflows" / "container-deploy.yml").read_text()
    assert 'bash deploy/images.sh "$SERVICE"' in reusable
    script = (REPO / "deploy" / "images.sh").read_text()
    assert f"[{project}]={project}/Dockerfile" in script and f"[{project}]=." in script
    triggers = definition[True]  # YAML 1.1 reads the key `on` as a boolean
    for event in ("push", "pull_request"):
        assert "contract/**" in triggers[event]["paths"], f"{workflow}: {event} misses contract/"


def test_uv_tag_matches_the_uv_running_here():
    """The replay below uses this machine's uv: it must be the image's version."""
    uv = uv_binary()
    if uv is None:
        pytest.skip("no uv on PATH and no $UV")
    version = subprocess.run([uv, "--version"], capture_output=True, text=True).stdout.split()[1]
    for project in SERVICES:
        tags = [s.image for s in parse((REPO / project / "Dockerfile").read_text())]
        assert f"ghcr.io/astral-sh/uv:{version}" in tags, f"{project}: {tags} vs uv {version}"


# --- the images' own commands, outside Docker --------------------------------------------


def replay_project(project: str, tmp_path: Path, named: dict[str, Path] | None = None):
    require_package(project)
    uv = uv_binary()
    if uv is None:
        pytest.skip("no uv on PATH and no $UV")
    return replay(
        REPO / project / "Dockerfile",
        REPO,
        tmp_path / "image",
        uv,
        named or {},
        install_overrides=INSTALL_OVERRIDES,
    )


def assert_contract_installed_as_a_package(venv: Path) -> None:
    """The image has /app/.venv only: the contract must live in it, not point at /app/contract."""
    (site,) = venv.glob("lib/python3.*/site-packages")
    assert (site / "flipkart_contract" / "__init__.py").is_file()
    for pth in site.glob("*.pth"):
        assert "contract" not in pth.read_text(), f"{pth.name}: an editable install of the contract"


def start_cmd(replayed, env: dict[str, str]) -> subprocess.Popen:
    """The image's CMD, started in its working folder, output captured for `stop`."""
    return subprocess.Popen(
        replayed.cmd,
        cwd=replayed.cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_healthcheck(replayed, env: dict[str, str]) -> int:
    return subprocess.run(
        replayed.healthcheck, cwd=replayed.cwd, env=env, capture_output=True, timeout=30
    ).returncode


def test_backend_image_commands_serve_the_model_health_and_metrics(tmp_path):
    require_package("backend")
    artifacts = tiny_artifacts(tmp_path, uv_binary() or "uv")
    replayed = replay_project("backend", tmp_path, {"artifacts": artifacts})
    assert replayed.ran == [
        "uv sync --locked --no-dev --no-editable --no-install-project --no-install-local",
        "uv sync --locked --no-dev --no-editable",
    ]
    venv = replayed.root / "app" / ".venv"
    assert (venv / "bin" / "flipkart-api").is_file()
    assert_contract_installed_as_a_package(venv)
    assert not (venv / "bin" / "pytest").exists(), "dev dependencies leaked into the image"
    port = free_port()
    env = replayed.env | {"PORT": str(port), "FLIPKART_HOST": "127.0.0.1"}
    process = start_cmd(replayed, env)
    try:
        body = wait_for(f"http://127.0.0.1:{port}/health", process, timeout_s=60)
        assert json.loads(body) == {"status": "ok"}
        assert run_healthcheck(replayed, env) == 0
        # The image's artifacts path, registry and runtime environment serve the model.
        ready = json.loads(wait_for(f"http://127.0.0.1:{port}/ready", process, 30))
        assert ready["status"] == "ready", ready
        image = base64.b64encode((artifacts / "probe.png").read_bytes()).decode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/predict",
            data=json.dumps({"image": image}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            prediction = json.loads(response.read())
        assert prediction["label"] in [p["label"] for p in prediction["probabilities"]]
        # The prediction store is the SQLite file DATABASE_URL puts on the /data volume.
        assert (replayed.root / "data" / "predictions.db").is_file()
        exposition = wait_for(f"http://127.0.0.1:{port}/metrics", process, 10).decode()
        exposed = {line.split()[2] for line in exposition.splitlines() if line.startswith("# TYPE")}
        # Counters are exposed as <name>_total, histograms as <name>_bucket/_sum/_count.
        suffixes = ("total", "bucket", "sum", "count")
        series = exposed | {f"{name}_{suffix}" for name in exposed for suffix in suffixes}
        missing = dashboard_metric_names() - series
        assert not missing, f"the Grafana dashboard queries metrics the backend lacks: {missing}"
    finally:
        output = stop(process)
    assert run_healthcheck(replayed, env) != 0, "the health check passes with no server"
    assert "Traceback" not in output, output


def test_frontend_image_commands_serve_the_page(tmp_path):
    replayed = replay_project("frontend", tmp_path)
    assert [r.split()[:2] for r in replayed.ran] == [["uv", "sync"], ["uv", "sync"]]
    assert_contract_installed_as_a_package(replayed.root / "app" / ".venv")
    assert (replayed.root / "app" / "assets" / "dataset_dashboard.csv").is_file() or not (
        REPO / "frontend" / "assets" / "dataset_dashboard.csv"
    ).is_file()
    port = free_port()
    closed_port = free_port()  # nothing listens there: the UI must start without a backend
    env = replayed.env | {
        "WEBSITES_PORT": str(port),  # what Azure sets; PORT is unset here
        "HOST": "127.0.0.1",
        "API_URL": f"http://127.0.0.1:{closed_port}",
    }
    process = start_cmd(replayed, env)
    try:
        page = wait_for(f"http://127.0.0.1:{port}/", process, timeout_s=120).decode()
        assert "gradio" in page.lower()
        assert run_healthcheck(replayed, env) == 0
    finally:
        output = stop(process)
    assert run_healthcheck(replayed, env) != 0, "the health check passes with no server"
    assert "Traceback" not in output, output
