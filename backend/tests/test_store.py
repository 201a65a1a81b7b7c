"""Migrations and the repository, on SQLite and on a real PostgreSQL server."""

import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from alembic import command
from flipkart_api.settings import Settings
from flipkart_api.store import repository
from flipkart_api.store.database import (
    alembic_config,
    current_revision,
    database_url,
    head_revision,
    make_engine,
    migrate,
)
from flipkart_api.store.predictions import PredictionStore
from flipkart_api.store.tables import Prediction, utcnow
from sqlalchemy import inspect, text
from test_store_helpers import database_fixture, postgres_cluster_fixture  # noqa: F401


def engine_for(database: dict):
    url = database_url(database.get("database_url"), database.get("database_path"))
    return make_engine(url, timeout_s=5)


def new_prediction(sha: str = "a" * 64, run_id: str = "run-1") -> repository.NewPrediction:
    return repository.NewPrediction(
        image_sha256=sha,
        run_id=run_id,
        architecture="tiny_net",
        label="Watches",
        confidence=0.8,
        uncertain=False,
        probabilities=[
            {"label": "Watches", "probability": 0.8},
            {"label": "Computers", "probability": 0.2},
        ],
        latency_ms={"decode": 1.0, "preprocess": 1.0, "inference": 1.0, "total": 3.5},
        source="upload",
        route="/v1/predict",
    )


def insert_old_row(
    engine, prediction_id: str, sha: str = "c" * 64, column: str = "model_name"
) -> None:
    """A prediction as revisions 0001-0002 stored it (the column was still `model_name`), or
    0003-0004 (`column="architecture"`): written in SQL, the ORM knows only the latest tables."""
    columns = (
        f"id, created_at, image_sha256, run_id, {column}, label, confidence, uncertain, "
        "probabilities, latency_ms, latency_total_ms, source, route"
    )
    values = (
        ":id, :created_at, :sha, 'run-0', 'old_net', 'Watches', 0.8, :uncertain, "
        '\'[{"label": "Watches", "probability": 0.8}]\', \'{"total": 3.5}\', 3.5, '
        "'upload', '/v1/predict'"
    )
    with engine.begin() as connection:
        connection.execute(
            text(f"INSERT INTO predictions ({columns}) VALUES ({values})"),
            {"id": prediction_id, "created_at": utcnow(), "sha": sha, "uncertain": False},
        )


def test_database_url_defaults_to_sqlite_and_uses_psycopg_for_postgres(tmp_path) -> None:
    assert database_url(None, tmp_path / "p.db") == f"sqlite:///{tmp_path / 'p.db'}"
    assert database_url("postgres://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"
    assert database_url("postgresql://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"
    dockerfile_url = "sqlite:////data/predictions.db"  # what backend/Dockerfile sets
    assert database_url(dockerfile_url, tmp_path) == dockerfile_url
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'p.db'}")
    assert (tmp_path / "new").is_dir()
    engine.dispose()
    with pytest.raises(ValueError, match="unsupported database"):
        make_engine("mysql://u@h/db")


def test_migrations_up_from_empty(database) -> None:
    engine = engine_for(database)
    assert current_revision(engine) is None
    migrate(engine)
    assert current_revision(engine) == head_revision()
    assert {"predictions", "feedback", "kept_images"} <= set(inspect(engine).get_table_names())
    migrate(engine)  # idempotent: every start-up runs it
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_migrations_up_from_the_first_revision_keep_the_data(database) -> None:
    engine = engine_for(database)
    migrate(engine, "0001")
    assert "feedback" not in inspect(engine).get_table_names()
    insert_old_row(engine, "p1")
    migrate(engine)
    row = repository.get_prediction(engine, "p1")
    assert current_revision(engine) == head_revision() != "0001"
    assert (row.label, row.architecture) == ("Watches", "old_net")
    assert repository.set_feedback(engine, row.id, "Computers", "admin") is False
    assert repository.get_feedback(engine, row.id).label == "Computers"
    engine.dispose()


def test_model_name_becomes_architecture_keeping_rows_and_feedback(database) -> None:
    engine = engine_for(database)
    migrate(engine, "0002")
    insert_old_row(engine, "p1")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO feedback VALUES ('p1', 'Computers', :now, :now)"), {"now": utcnow()}
        )
    migrate(engine, "0003")
    columns = {c["name"] for c in inspect(engine).get_columns("predictions")}
    assert "architecture" in columns and "model_name" not in columns
    with engine.connect() as connection:  # not cascaded away (read as 0003 has it: no source)
        query = text("SELECT architecture FROM predictions WHERE id = 'p1'")
        assert connection.execute(query).scalar() == "old_net"
        query = text("SELECT label FROM feedback WHERE prediction_id = 'p1'")
        assert connection.execute(query).scalar() == "Computers"
    insert_old_row(engine, "p2", sha="d" * 64, column="architecture")

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    columns = {c["name"] for c in inspect(engine).get_columns("predictions")}
    assert "model_name" in columns and "architecture" not in columns
    with engine.connect() as connection:
        names = connection.execute(text("SELECT id, model_name FROM predictions ORDER BY id")).all()
    assert names == [("p1", "old_net"), ("p2", "old_net")]
    engine.dispose()


def test_feedback_before_0004_becomes_unverified_and_tokens_get_a_stored_key(database) -> None:
    engine = engine_for(database)
    migrate(engine, "0003")
    insert_old_row(engine, "p1", column="architecture")
    with engine.begin() as connection:  # feedback as 0002-0003 stored it: no source
        connection.execute(
            text("INSERT INTO feedback VALUES ('p1', 'Computers', :now, :now)"), {"now": utcnow()}
        )
    migrate(engine, "0004")
    assert current_revision(engine) == "0004"
    with engine.connect() as connection:
        query = text("SELECT label, source FROM feedback WHERE prediction_id = 'p1'")
        assert tuple(connection.execute(query).one()) == ("Computers", "unverified")
    assert "server_secrets" in inspect(engine).get_table_names()
    secret = repository.server_secret(engine, "feedback_token")
    assert len(secret) == 32 and repository.server_secret(engine, "feedback_token") == secret
    assert repository.server_secret(engine, "another") != secret
    migrate(engine)  # the rows and their feedback survive 0005's rebuild of the table
    stored, with_feedback = repository.prediction_with_feedback(engine, "p1")
    assert (stored.architecture, stored.title, stored.text_key) == ("old_net", None, "")
    assert (with_feedback.label, with_feedback.source) == ("Computers", "unverified")
    assert repository.prediction_with_feedback(engine, "nope") is None

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    assert "server_secrets" not in inspect(engine).get_table_names()
    assert "source" not in {c["name"] for c in inspect(engine).get_columns("feedback")}
    assert "title" not in {c["name"] for c in inspect(engine).get_columns("predictions")}
    with engine.connect() as connection:  # rows and feedback stay
        assert connection.execute(text("SELECT id FROM predictions")).scalars().all() == ["p1"]
        assert connection.execute(text("SELECT label FROM feedback")).scalars().all() == [
            "Computers"
        ]
    migrate(engine)
    assert repository.get_feedback(engine, "p1").source == "unverified"
    engine.dispose()


def test_one_row_per_image_model_and_text_and_text_only_rows(database) -> None:
    """0005: the same image and model with another listing text is another row; a text-only
    prediction has no image; downgrading drops what 0004 cannot hold and keeps the rest."""
    engine = engine_for(database)
    migrate(engine)
    plain, _ = repository.save_prediction(engine, new_prediction())
    titled = replace(new_prediction(), title="Analog watch", text_key="1" * 64)
    with_title, created = repository.save_prediction(engine, titled)
    assert created and with_title.id != plain.id
    again, created = repository.save_prediction(engine, titled)
    assert not created and again.id == with_title.id  # the unique key holds the text
    text_only = replace(titled, image_sha256=None, details={"inputs_used": ["title"]})
    alone, created = repository.save_prediction(engine, text_only)
    assert created and alone.image_sha256 is None
    found = repository.find_prediction(engine, None, "run-1", "1" * 64)
    assert found.id == alone.id and found.details == {"inputs_used": ["title"]}
    assert repository.find_prediction(engine, "a" * 64, "run-1").id == plain.id
    repository.set_feedback(engine, plain.id, "Computers", "admin")
    repository.set_feedback(engine, alone.id, "Computers", "admin")

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    with engine.connect() as connection:
        ids = connection.execute(text("SELECT id FROM predictions")).scalars().all()
        kept = connection.execute(text("SELECT prediction_id FROM feedback")).scalars().all()
    assert ids == [plain.id] and kept == [plain.id]
    engine.dispose()


def test_the_stored_token_key_is_generated_once_even_by_concurrent_replicas(database) -> None:
    engine = engine_for(database)
    migrate(engine)
    keys: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: keys.append(repository.server_secret(engine, "k")))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 6 and len(set(keys)) == 1
    engine.dispose()


def test_one_row_per_image_and_model_even_under_concurrent_writers(database) -> None:
    engine = engine_for(database)
    migrate(engine)
    results = []

    def write() -> None:
        results.append(repository.save_prediction(engine, new_prediction(sha="b" * 64)))

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({row.id for row, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    repository.save_prediction(engine, new_prediction(sha="b" * 64, run_id="run-2"))
    assert repository.count_predictions(engine) == 2
    engine.dispose()


def test_second_feedback_replaces_the_first(database) -> None:
    engine = engine_for(database)
    migrate(engine)
    row, _ = repository.save_prediction(engine, new_prediction())
    assert repository.set_feedback(engine, row.id, "Computers", "feedback-token") is False
    assert repository.set_feedback(engine, row.id, "Watches", "admin") is True
    stored = repository.get_feedback(engine, row.id)
    assert (stored.label, stored.source) == ("Watches", "admin")  # the latest giver
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM feedback")).scalar() == 1
    engine.dispose()


def test_sqlite_file_in_a_new_folder_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "predictions.sqlite3"
    engine = make_engine(database_url(None, path))
    migrate(engine)
    repository.save_prediction(engine, new_prediction())
    engine.dispose()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT count(*) FROM predictions").fetchone()[0] == 1


def test_rows_round_trip_json_and_times(database) -> None:
    engine = engine_for(database)
    migrate(engine)
    row, _ = repository.save_prediction(engine, new_prediction())
    stored = repository.get_prediction(engine, row.id)
    assert isinstance(stored, Prediction)
    assert stored.probabilities[0] == {"label": "Watches", "probability": 0.8}
    assert stored.latency_total_ms == 3.5 and stored.created_at.tzinfo is None
    assert repository.get_prediction(engine, "nope") is None
    engine.dispose()


def test_kept_images_default_beside_the_sqlite_file(tmp_path) -> None:
    settings = Settings(
        artifacts_root=tmp_path / "artifacts",
        database_url=f"sqlite:///{tmp_path / 'data' / 'p.db'}",
        keep_images=True,
    )
    store = PredictionStore(settings)
    assert store.keeper.folder == tmp_path / "data" / "kept_images"
    store.close()
    default = PredictionStore(Settings(artifacts_root=tmp_path / "artifacts", keep_images=True))
    assert default.keeper.folder == tmp_path / "var" / "kept_images"
    default.close()
