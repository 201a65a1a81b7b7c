"""Process and thread layout: `FLIPKART_WORKERS`, ONNX Runtime's threads per worker, and a
multi-process server answering exactly what a single process answers (speed is measured only by
`bench/serving`, never here)."""

import inspect
import os
import sqlite3
import time

import httpx
import pytest
from conftest import PROD, make_settings
from fastapi.testclient import TestClient
from flipkart_api import cli, deps
from flipkart_api import settings as settings_module
from flipkart_api.app import create_app
from flipkart_api.catalog import open_session
from flipkart_contract.testing import image_bytes
from helpers import write_model, write_registry
from test_e2e import Server


@pytest.mark.parametrize(
    ("cores", "workers", "threads", "expected"),
    [
        (2, 1, 0, 0),  # one process: ONNX Runtime's default (every core)
        (2, 2, 0, 1),  # the cores shared out
        (8, 3, 0, 2),
        (2, 4, 0, 1),  # never fewer than one
        (2, 0, 0, 1),  # 0 workers = one per core
        (2, 2, 3, 3),  # an explicit setting wins
    ],
)
def test_intra_op_threads(monkeypatch, artifacts, cores, workers, threads, expected) -> None:
    monkeypatch.setattr(settings_module, "available_cores", lambda: cores)
    settings = make_settings(artifacts, workers=workers, inference_threads=threads)
    assert settings.worker_count() == (workers or cores)
    assert settings.intra_op_threads() == expected


def test_the_session_gets_the_threads(monkeypatch, artifacts) -> None:
    monkeypatch.setattr(settings_module, "available_cores", lambda: 4)
    model = artifacts / "models" / PROD / "model.onnx"
    for workers, expected in ((2, 2), (4, 1)):
        session = open_session(model, make_settings(artifacts, workers=workers))
        options = session.get_session_options()
        assert options.intra_op_num_threads == expected
        assert options.inter_op_num_threads == 1


def test_one_worker_serves_the_app_in_process(artifacts) -> None:
    options = cli.serve_options(make_settings(artifacts, workers=1, store_enabled=False))
    assert "workers" not in options and not isinstance(options["app"], str)


def test_several_workers_migrate_once_then_fork(monkeypatch, artifacts, tmp_path) -> None:
    monkeypatch.setenv("FLIPKART_WORKERS", "1")  # restored after the test
    database = tmp_path / "store.sqlite3"
    settings = make_settings(artifacts, workers=3, database_path=database)
    options = cli.serve_options(settings, "127.0.0.1", 9999)
    assert options["app"] == "flipkart_api.cli:worker_app" and options["factory"] is True
    assert options["workers"] == 3 and options["port"] == 9999
    assert os.environ["FLIPKART_WORKERS"] == "3"  # what each worker's settings will read
    with sqlite3.connect(database) as db:  # migrated, token key created, before any worker
        assert db.execute("select count(*) from server_secrets").fetchone() == (1,)
        assert db.execute("select version_num from alembic_version").fetchone()


def test_worker_app_reads_the_environment(monkeypatch, artifacts) -> None:
    monkeypatch.setenv("FLIPKART_ARTIFACTS_ROOT", str(artifacts))
    monkeypatch.setenv("FLIPKART_STORE_ENABLED", "false")
    settings_module.get_settings.cache_clear()
    try:
        with TestClient(cli.worker_app()) as client:
            assert client.get("/ready").json()["model"] == PROD
    finally:
        settings_module.get_settings.cache_clear()


def test_dependencies_never_hop_to_the_thread_pool() -> None:
    """FastAPI runs a plain `def` dependency on the thread pool: every one is `async def`."""
    functions = [
        value
        for value in vars(deps).values()
        if inspect.isfunction(value) and value.__module__ == deps.__name__
    ]
    assert len(functions) >= 10
    assert [f.__name__ for f in functions if not inspect.iscoroutinefunction(f)] == []


def test_two_workers_answer_like_one_process(tmp_path) -> None:
    """Same probabilities as the in-process app; both processes serve; a feedback token handed
    out by one worker is accepted by the other (the key lives in the shared store)."""
    root = tmp_path / "artifacts"
    write_model(root, PROD, method="crop", size=64)
    write_registry(root, PROD, [PROD])
    images = [image_bytes((90 + 7 * i, 70), fmt="JPEG", color=(i * 40, 90, 200)) for i in range(4)]
    with TestClient(create_app(make_settings(root, store_enabled=False))) as client:
        expected = [
            client.post("/v1/predict", files={"file": ("x.jpg", data, "image/jpeg")}).json()
            for data in images
        ]
    server = Server(
        root,
        tmp_path / "server.log",
        FLIPKART_WORKERS="2",
        FLIPKART_INFERENCE_THREADS="0",
        FLIPKART_DATABASE_PATH=str(tmp_path / "store.sqlite3"),
        FLIPKART_RATE_LIMIT_PER_MINUTE="0",
    ).wait_started()
    try:
        children = _children(server.process.pid)
        assert len(children) == 2, children
        answers, tokens = [], []
        for round_ in range(3):  # new connections land on either worker
            for data in images:
                files = {"file": ("x.jpg", data, "image/jpeg")}
                with httpx.Client(base_url=server.url) as fresh:
                    answer = fresh.post("/v1/predict", files=files).json()
                if round_ == 0:
                    answers.append(answer)
                tokens.append((answer["id"], answer["feedback_token"]))
        for got, want in zip(answers, expected, strict=True):
            assert got["label"] == want["label"]
            assert got["probabilities"] == want["probabilities"]
        for prediction_id, token in tokens:
            with httpx.Client(base_url=server.url) as fresh:
                response = fresh.get(
                    f"/v1/predictions/{prediction_id}", headers={"X-Feedback-Token": token}
                )
            assert response.status_code == 200, response.text
    finally:
        server.stop()


def _children(pid: int) -> list[int]:
    """uvicorn's worker processes (children of the supervisor), once they have started."""
    deadline = time.monotonic() + 30
    found: list[int] = []
    while time.monotonic() < deadline:
        found = []
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(c) for c in handle.read().split()]
        # multiprocessing's resource tracker may be a child too: count the servers only
        servers = [c for c in found if b"flipkart_api" in _cmdline(c) or b"spawn" in _cmdline(c)]
        if len(servers) >= 2:
            return servers
        time.sleep(0.2)
    return found


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return b""
