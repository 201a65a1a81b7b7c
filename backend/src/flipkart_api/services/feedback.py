"""The true label of a stored prediction (a second feedback replaces the first)."""

from flipkart_api.errors import ApiError
from flipkart_api.store import repository
from flipkart_api.store.predictions import PredictionStore, StoreUnavailable


async def record_feedback(database: PredictionStore, prediction_id: str, label: str) -> dict:
    try:
        row = await database.run(repository.get_prediction, prediction_id)
        if row is None:
            raise ApiError(
                404, "unknown_prediction", f"No stored prediction has id {prediction_id!r}."
            )
        labels = [p["label"] for p in row.probabilities]
        if label not in labels:
            raise ApiError(
                422,
                "unknown_label",
                f"Unknown label {label!r}. Valid labels: {', '.join(sorted(labels))}.",
            )
        replaced = await database.run(repository.set_feedback, row.id, label)
        await database.keep_after_feedback(row.image_sha256)
    except StoreUnavailable as exc:
        raise ApiError(503, "database_unavailable", f"Feedback not recorded: {exc}") from exc
    return {
        "prediction_id": row.id,
        "label": label,
        "predicted_label": row.label,
        "correct": label == row.label,
        "replaced": replaced,
    }
