"""Replicas that start together on an empty database: one migrates, the others wait for it.

Four processes open the same fresh store (SQLite file, then PostgreSQL) at the same instant, as
two replicas behind a load balancer and their workers do on a first deployment. Without the
migration lock, two of them create the same tables and one dies on "already exists".
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flipkart_api.store.database import (
    current_revision,
    database_url,
    head_revision,
    make_engine,
)
from test_store_helpers import postgres_cluster_fixture  # noqa: F401 (fixture)

PROCESSES = 4
# One replica starting: the store opened as the service opens it (migrations, then the token
# key), once every process is ready (a file each) and told to go (one file for all).
REPLICA = """
import hashlib, json, sys, time
from pathlib import Path
from flipkart_api.settings import Settings
from flipkart_api.store.predictions import PredictionStore

url, folder, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
store = PredictionStore(Settings(database_url=url, artifacts_root=folder, json_logs=False))
(folder / f"ready-{name}").touch()
while not (folder / "go").exists():
    time.sleep(0.001)
store.open()
print(json.dumps({"problem": store.problem,
                  "key": hashlib.sha256(store.token_secret or b"").hexdigest()}))
store.close()
sys.exit(1 if store.problem else 0)
"""


def start_together(url: str, folder: Path) -> list[dict]:
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", REPLICA, url, str(folder), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    try:
        deadline = time.monotonic() + 120
        while len(list(folder.glob("ready-*"))) < PROCESSES:
            assert time.monotonic() < deadline, "the processes never got ready"
            assert all(p.poll() is None for p in replicas), [p.communicate() for p in replicas]
            time.sleep(0.01)
        (folder / "go").touch()
        outputs = [p.communicate(timeout=120) for p in replicas]
    finally:
        for p in replicas:
            p.kill()
    answers = []
    for p, (out, err) in zip(replicas, outputs, strict=True):
        assert p.returncode == 0, f"a replica failed to open the store:\n{out}\n{err[-3000:]}"
        answers.append(json.loads(out.strip().splitlines()[-1]))
    return answers


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_four_replicas_start_at_once_on_an_empty_database(kind, tmp_path, request):
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'db' / 'predictions.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_cluster").new_database()
    answers = start_together(url, tmp_path)
    assert [a["problem"] for a in answers] == [None] * PROCESSES
    # Every replica holds the same feedback-token key: a token one signs, another accepts.
    assert len({a["key"] for a in answers}) == 1
    engine = make_engine(database_url(url, tmp_path / "unused.sqlite3"))
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
