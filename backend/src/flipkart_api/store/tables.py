"""The stored predictions, the feedback on them and the kept images (SQLAlchemy 2 models).

Times are naive UTC everywhere (SQLite keeps no time zone); one row per (image, model, text):
the same image sent again to the same model with the same listing text (none included) is
answered from this row. A text-only prediction has no image (`image_sha256` null).
"""

from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Prediction(Base):
    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint("image_sha256", "run_id", "text_key", name="uq_predictions_input_model"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    image_sha256: Mapped[str | None] = mapped_column(String(64))  # null: text only (0005)
    run_id: Mapped[str] = mapped_column(String(200), index=True)
    architecture: Mapped[str] = mapped_column(String(200))  # the card's (column 0003)
    label: Mapped[str] = mapped_column(String(200))
    confidence: Mapped[float] = mapped_column(Float)
    uncertain: Mapped[bool]
    probabilities: Mapped[list] = mapped_column(JSON)  # every class, sorted by probability
    latency_ms: Mapped[dict] = mapped_column(JSON)
    latency_total_ms: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))  # upload | base64 | url | raw
    route: Mapped[str] = mapped_column(String(64))
    # The listing text (columns 0005): as the text model read it (cleaned), null when absent;
    # the listing whose text model scored it (null: no text used); the cache key of the text
    # ('' without text, else sha256 of the listing applied and the text); the answer's
    # `inputs_used`, `by_input` and `listing` (null: an image-only answer, its own `by_input`).
    title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    listing_id: Mapped[str | None] = mapped_column(String(200))
    text_key: Mapped[str] = mapped_column(String(64), server_default="")
    details: Mapped[dict | None] = mapped_column(JSON)


class RequestLog(Base):
    """One answered prediction request, cache hits included (table 0006): what requests per
    hour and latency over time are counted from (`predictions` has one row per input)."""

    __tablename__ = "requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    prediction_id: Mapped[str | None] = mapped_column(String(32))
    run_id: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(200))
    cached: Mapped[bool]
    latency_total_ms: Mapped[float] = mapped_column(Float)


class Feedback(Base):
    __tablename__ = "feedback"

    prediction_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("predictions.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(200))
    # Who gave the label (column 0004): `feedback-token` (the client that got the prediction),
    # `admin` (the admin key), `unverified` (written before 0004, when anyone could).
    source: Mapped[str] = mapped_column(String(32), server_default="unverified")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class KeptImage(Base):
    __tablename__ = "kept_images"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    file: Mapped[str] = mapped_column(String(200))  # relative to the images folder
    bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ServerSecret(Base):
    """Secrets the service generates once and shares through the store (table 0004)."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))  # hex
    created_at: Mapped[datetime] = mapped_column(DateTime)
