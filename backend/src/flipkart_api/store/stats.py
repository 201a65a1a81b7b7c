"""Monitoring figures over the stored predictions (ChampiPy's triggers for retraining)."""

from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session

from flipkart_api.store.tables import Feedback, Prediction, RequestLog, utcnow

MAX_LATENCY_SAMPLES = 100_000


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def compute_stats(
    engine: Engine,
    window_hours: float,
    last_n: int,
    production: str | None,
    promoted_at: datetime | None,
) -> dict:
    end = utcnow()
    start = end - timedelta(hours=window_hours)
    in_window = Prediction.created_at >= start
    with Session(engine) as session:
        by_label = dict(
            session.execute(
                select(Prediction.label, func.count()).where(in_window).group_by(Prediction.label)
            ).all()
        )
        by_model = dict(
            session.execute(
                select(Prediction.run_id, func.count()).where(in_window).group_by(Prediction.run_id)
            ).all()
        )
        by_architecture = dict(
            session.execute(
                select(Prediction.architecture, func.count())
                .where(in_window)
                .group_by(Prediction.architecture)
            ).all()
        )
        total = sum(by_label.values())
        uncertain = session.scalar(
            select(func.count()).where(in_window, Prediction.uncertain.is_(True))
        )
        latencies = session.scalars(
            select(Prediction.latency_total_ms)
            .where(in_window)
            .order_by(Prediction.created_at.desc())
            .limit(MAX_LATENCY_SAMPLES)
        ).all()
        recent = session.execute(
            select(Prediction.confidence, Prediction.uncertain)
            .order_by(Prediction.created_at.desc(), Prediction.id)
            .limit(last_n)
        ).all()
        feedback_count, correct = session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((Feedback.label == Prediction.label, 1), else_=0)), 0),
            ).join(Prediction, Prediction.id == Feedback.prediction_id)
        ).one()
        first_seen = (
            select(func.min(Prediction.created_at).label("first"))
            .where(Prediction.image_sha256.is_not(None))  # text-only predictions have none
            .group_by(Prediction.image_sha256)
            .subquery()
        )
        new_images_query = select(func.count()).select_from(first_seen)
        if promoted_at is not None:
            new_images_query = new_images_query.where(first_seen.c.first >= promoted_at)
        new_images = session.scalar(new_images_query)
    return {
        "window": {"from": iso(start), "to": iso(end), "hours": window_hours},
        "predictions": total,
        "by_label": by_label,
        "by_model": by_model,  # by run_id
        "by_architecture": by_architecture,
        "uncertain_share": (uncertain / total) if total else None,
        "latency_ms": _percentiles(latencies),
        "last_n": {
            "n": last_n,
            "count": len(recent),
            "mean_confidence": float(np.mean([r[0] for r in recent])) if recent else None,
            "uncertain_share": (sum(bool(r[1]) for r in recent) / len(recent)) if recent else None,
        },
        "feedback": {
            "count": int(feedback_count),
            "correct": int(correct),
            "accuracy": (int(correct) / feedback_count) if feedback_count else None,
        },
        "since_promotion": {
            "production": production,
            "promoted_at": iso(promoted_at),
            "new_distinct_images": int(new_images or 0),
        },
    }


def _percentiles(values: list[float]) -> dict | None:
    if not values:
        return None
    array = np.asarray(values, dtype=np.float64)
    p50, p95, p99 = np.percentile(array, [50, 95, 99])
    return {
        "count": int(array.size),
        "p50": round(float(p50), 3),
        "p95": round(float(p95), 3),
        "p99": round(float(p99), 3),
        "mean": round(float(array.mean()), 3),
    }


MAX_SERIES_ROWS = 200_000
MAX_BUCKETS = 1_000


def compute_series(engine: Engine, window_hours: float, bucket_minutes: int) -> dict:
    """Requests over time (cache hits included, from `requests`), in buckets of
    `bucket_minutes` aligned on the clock (UTC), oldest first; every bucket of the window is
    listed, empty ones with zero requests and no latency. Labels: the answered label of each
    request in the window (the served mix)."""
    end = utcnow()
    bucket = timedelta(minutes=bucket_minutes)
    first = _floor(end - timedelta(hours=window_hours), bucket)
    count = int((end - first) / bucket) + 1
    with Session(engine) as session:
        rows = session.execute(
            select(
                RequestLog.created_at,
                RequestLog.cached,
                RequestLog.latency_total_ms,
                RequestLog.label,
            )
            .where(RequestLog.created_at >= first)
            .order_by(RequestLog.created_at.desc())
            .limit(MAX_SERIES_ROWS)
        ).all()
    slots = [{"requests": 0, "cache_hits": 0, "latencies": []} for _ in range(count)]
    labels: dict[str, int] = {}
    for created_at, cached, latency, label in rows:
        index = min(count - 1, int((created_at - first) / bucket))
        slot = slots[index]
        slot["requests"] += 1
        slot["cache_hits"] += int(bool(cached))
        slot["latencies"].append(latency)
        labels[label] = labels.get(label, 0) + 1
    buckets = []
    for i, slot in enumerate(slots):
        latency = _percentiles(slot["latencies"])
        buckets.append(
            {
                "start": iso(first + i * bucket),
                "requests": slot["requests"],
                "cache_hits": slot["cache_hits"],
                "latency_ms": None
                if latency is None
                else {key: latency[key] for key in ("p50", "p95", "p99")},
            }
        )
    return {
        "window": {"from": iso(first), "to": iso(end), "hours": window_hours},
        "bucket_minutes": bucket_minutes,
        "requests": sum(slot["requests"] for slot in slots),
        "cache_hits": sum(slot["cache_hits"] for slot in slots),
        "truncated": len(rows) == MAX_SERIES_ROWS,
        "buckets": buckets,
        "by_label": dict(sorted(labels.items())),
    }


def _floor(moment: datetime, bucket: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1)
    return epoch + ((moment - epoch) // bucket) * bucket
