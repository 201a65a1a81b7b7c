"""Shared by the store tests: a throwaway PostgreSQL cluster and distinct images.

No tests here. The PostgreSQL cluster comes from the Debian `postgresql` package's binaries
(initdb/pg_ctl), listens on 127.0.0.1 on a free port, lives in a temporary folder, and is
stopped and deleted at the end of the session; the tests that need it are skipped, with the
reason, when the binaries are absent.
"""

import atexit
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from flipkart_contract.testing import image_bytes
from test_e2e import free_port

PG_MISSING = "PostgreSQL server binaries not found (Debian: apt-get install -y postgresql)"


def distinct_png(i: int) -> bytes:
    return image_bytes((40, 30), color=(i % 256, (i // 256) % 256, 77))


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PostgresCluster:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="flipkart-pg-"))
        self.folder.chmod(0o777)  # initdb refuses root: the cluster runs as `nobody` then
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        command = [*self.as_user, str(self.bindir / tool), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed: {result.stdout}\n{result.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder}"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"),
                  "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.admin_url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


_CLUSTER: list[PostgresCluster] = []


@pytest.fixture(scope="session", name="postgres_cluster")
def postgres_cluster_fixture() -> PostgresCluster:
    """One cluster per test session, shared by every module that imports this fixture."""
    bindir = pg_bin()
    if bindir is None:
        pytest.skip(PG_MISSING)
    if not _CLUSTER:
        _CLUSTER.append(PostgresCluster(bindir))
        atexit.register(_CLUSTER[0].remove)
    return _CLUSTER[0]


@pytest.fixture(params=["sqlite", "postgresql"], name="database")
def database_fixture(request, tmp_path) -> dict:
    """Settings overrides for a fresh, empty database of each kind."""
    if request.param == "sqlite":
        return {"database_path": tmp_path / "db" / "predictions.sqlite3"}
    cluster = request.getfixturevalue("postgres_cluster")
    return {"database_url": cluster.new_database()}
