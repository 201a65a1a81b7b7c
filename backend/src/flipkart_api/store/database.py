"""Engine and migrations: a SQLite file by default, PostgreSQL when `DATABASE_URL` says so.

SQLite runs in WAL mode with `synchronous=FULL` (a committed prediction survives a crash of the
process or of the machine) and a busy timeout, so concurrent writers wait instead of failing.

Several processes may start at once on one empty database (replicas behind a load balancer,
uvicorn's workers): the migrations run under a lock, so one migrates and the others wait, then
find the schema at head. PostgreSQL: an advisory lock held by the migration's transaction;
SQLite: an exclusive lock on a file beside the database (its DDL is not transactional here).
"""

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

# The advisory lock's key: any bigint the application uses for nothing else ("flipkart").
MIGRATION_LOCK_KEY = int.from_bytes(b"flipkart", "big") >> 1

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def database_url(url: str | None, sqlite_path: Path) -> str:
    """The SQLAlchemy URL: `url` if given (postgres:// and postgresql:// use psycopg 3)."""
    if not url:
        return f"sqlite:///{sqlite_path}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, timeout_s: float = 5.0) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": timeout_s, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=8,
            max_overflow=32,  # as many as the thread pool (40) can ask for
            pool_timeout=timeout_s,
            connect_args={"connect_timeout": max(1, round(timeout_s))},
        )
    backend = parsed.get_backend_name()
    raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# Alembic is imported where it is used: it is slow to import and needed once per start-up.


def alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision` (idempotent: run at every start-up), one process at
    a time on the same database."""
    from alembic import command

    config = alembic_config()
    with sqlite_file_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Released with the transaction (commit, rollback, or the session's end if the
            # process dies): the next process then reads the version this one wrote.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@contextlib.contextmanager
def sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """An exclusive lock on `<database>.migrate-lock` for a SQLite file; nothing otherwise (or
    where the platform has no `fcntl`). The file stays: removing it would let two processes
    lock two different files."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    try:
        import fcntl
    except ImportError:  # Windows: no advisory file locks; run one process at a time there
        fcntl = None
    if not database or database == ":memory:" or fcntl is None:
        yield
        return
    with open(f"{database}.migrate-lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
