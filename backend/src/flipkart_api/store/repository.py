"""Queries and writes on the store, one short transaction each (callers run them off the loop)."""

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flipkart_api.store.tables import (
    Feedback,
    KeptImage,
    Prediction,
    RequestLog,
    ServerSecret,
    utcnow,
)


@dataclass(frozen=True)
class NewPrediction:
    image_sha256: str | None  # None: a text-only prediction
    run_id: str
    architecture: str
    label: str
    confidence: float
    uncertain: bool
    probabilities: list[dict]
    latency_ms: dict
    source: str
    route: str
    title: str | None = None
    description: str | None = None
    listing_id: str | None = None
    text_key: str = ""  # '' without text (see flipkart_api.services.prediction.text_key)
    details: dict | None = None


def find_prediction(
    engine: Engine, image_sha256: str | None, run_id: str, text_key: str = ""
) -> Prediction | None:
    with Session(engine, expire_on_commit=False) as session:
        query = select(Prediction).where(
            Prediction.image_sha256 == image_sha256,  # IS NULL for None
            Prediction.run_id == run_id,
            Prediction.text_key == text_key,
        )
        return session.scalars(query).first()


def get_prediction(engine: Engine, prediction_id: str) -> Prediction | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Prediction, prediction_id)


def save_prediction(engine: Engine, new: NewPrediction) -> tuple[Prediction, bool]:
    """Insert and commit; returns the row and whether it is new.

    When a concurrent request stored the same (image, model, text) first, the unique constraint
    refuses the second insert and that earlier row is returned: never two rows for one image
    (text-only rows have no image, so two concurrent ones may both be stored).
    """
    row = Prediction(
        id=uuid.uuid4().hex,
        created_at=utcnow(),
        latency_total_ms=float(new.latency_ms.get("total", 0.0)),
        **vars(new),
    )
    with Session(engine, expire_on_commit=False) as session:
        session.add(row)
        session.add(request_of(row, cached=False, latency_ms=row.latency_total_ms))
        try:
            session.commit()
            return row, True
        except IntegrityError:
            session.rollback()
    existing = find_prediction(engine, new.image_sha256, new.run_id, new.text_key)
    if existing is None:  # not a duplicate after all: let the caller see the real failure
        raise RuntimeError("insert refused but no earlier row for this image and model")
    record_request(engine, existing, False, row.latency_total_ms)
    return existing, False


def request_of(row: Prediction, cached: bool, latency_ms: float) -> RequestLog:
    return RequestLog(
        created_at=utcnow(),
        prediction_id=row.id,
        run_id=row.run_id,
        label=row.label,
        cached=cached,
        latency_total_ms=float(latency_ms),
    )


def record_request(engine: Engine, row: Prediction, cached: bool, latency_ms: float) -> None:
    """One more request answered with `row` (an answer from the store: `cached`)."""
    with Session(engine) as session:
        session.add(request_of(row, cached, latency_ms))
        session.commit()


def set_feedback(engine: Engine, prediction_id: str, label: str, source: str) -> bool:
    """Record (or replace) the true label of a prediction and who gave it (`source`);
    True when it replaced one."""
    now = utcnow()
    with Session(engine) as session:
        existing = session.get(Feedback, prediction_id, with_for_update=True)
        if existing is None:
            session.add(
                Feedback(
                    prediction_id=prediction_id,
                    label=label,
                    source=source,
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            existing.label, existing.source, existing.updated_at = label, source, now
        try:
            session.commit()
        except IntegrityError:  # a concurrent first feedback won: replace it
            session.rollback()
            row = session.get(Feedback, prediction_id, with_for_update=True)
            row.label, row.source, row.updated_at = label, source, now
            session.commit()
            return True
        return existing is not None


def get_feedback(engine: Engine, prediction_id: str) -> Feedback | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Feedback, prediction_id)


def prediction_with_feedback(
    engine: Engine, prediction_id: str
) -> tuple[Prediction, Feedback | None] | None:
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(Prediction, prediction_id)
        return None if row is None else (row, session.get(Feedback, prediction_id))


def server_secret(engine: Engine, name: str, nbytes: int = 32) -> bytes:
    """The secret called `name`, generated (random, `nbytes`) and stored the first time.

    Replicas that start together race to insert it; the primary key lets one win and the
    others read the winner's, so every process on this database holds the same secret.
    """
    with Session(engine) as session:
        row = session.get(ServerSecret, name)
        if row is None:
            value = secrets.token_hex(nbytes)
            session.add(ServerSecret(name=name, value=value, created_at=utcnow()))
            try:
                session.commit()
                return bytes.fromhex(value)
            except IntegrityError:
                session.rollback()
                row = session.get(ServerSecret, name)
        return bytes.fromhex(row.value)


def count_predictions(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Prediction)) or 0


def kept_bytes(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.coalesce(func.sum(KeptImage.bytes), 0))) or 0)


def add_kept_image(engine: Engine, sha256: str, file: str, size: int) -> bool:
    with Session(engine) as session:
        if session.get(KeptImage, sha256) is not None:
            return False
        session.add(KeptImage(sha256=sha256, file=file, bytes=size, created_at=utcnow()))
        try:
            session.commit()
        except IntegrityError:
            return False
        return True


@dataclass(frozen=True)
class KeptPrediction:
    """One prediction on a kept image, with its feedback (None when there is none)."""

    run_id: str
    label: str
    confidence: float
    title: str | None
    description: str | None
    feedback_label: str | None
    feedback_source: str | None  # feedback-token | admin | unverified
    feedback_at: datetime | None  # when the feedback was last given


def kept_images(engine: Engine) -> list[tuple[KeptImage, list[KeptPrediction]]]:
    """Each kept image with its predictions and their feedback."""
    with Session(engine, expire_on_commit=False) as session:
        images = list(session.scalars(select(KeptImage).order_by(KeptImage.created_at)))
        query = (
            select(
                Prediction.image_sha256,
                Prediction.run_id,
                Prediction.label,
                Prediction.confidence,
                Prediction.title,
                Prediction.description,
                Feedback.label,
                Feedback.source,
                Feedback.updated_at,
            )
            .join(Feedback, Feedback.prediction_id == Prediction.id, isouter=True)
            .where(Prediction.image_sha256.in_([i.sha256 for i in images]))
        )
        by_image: dict[str, list] = {}
        for sha, *fields in session.execute(query):
            by_image.setdefault(sha, []).append(KeptPrediction(*fields))
    return [(image, by_image.get(image.sha256, [])) for image in images]


def since(engine: Engine, start: datetime) -> list[Prediction]:
    with Session(engine, expire_on_commit=False) as session:
        query = select(Prediction).where(Prediction.created_at >= start)
        return list(session.scalars(query))


def probe_write(engine: Engine) -> None:
    """Fails when the database would refuse a write right now (SQLite: a held write lock)."""
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            connection.exec_driver_sql("SELECT 1")
            return
        previous = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
        connection.exec_driver_sql("PRAGMA busy_timeout=500")
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            connection.exec_driver_sql("ROLLBACK")
        finally:
            connection.exec_driver_sql(f"PRAGMA busy_timeout={int(previous)}")
