"""Feedback on a stored prediction and reading one back, both bound to its feedback token.

The true label of a prediction can be given (a second feedback replaces the first) and the
stored prediction read back only by the client that received its `feedback_token`, or with the
admin key; the feedback records which of the two it was (`source`).
"""

from flipkart_api.errors import ApiError
from flipkart_api.services.prediction import row_details
from flipkart_api.store import repository
from flipkart_api.store.predictions import PredictionStore, StoreUnavailable
from flipkart_api.store.stats import iso
from flipkart_api.tokens import HEADER, PredictionCredentials, token_matches

FROM_TOKEN = "feedback-token"
FROM_ADMIN = "admin"


async def authorise(
    database: PredictionStore, prediction_id: str, credentials: PredictionCredentials
) -> str:
    """Who may act on this prediction: `feedback-token` or `admin`; 401/403 otherwise.

    Checked before the prediction is looked up, so nobody learns which ids exist.
    """
    if credentials.token:
        secret = await database.feedback_secret()
        if token_matches(secret, prediction_id, credentials.token):
            return FROM_TOKEN
    if credentials.admin:
        return FROM_ADMIN
    if credentials.admin_error is not None:
        raise credentials.admin_error
    if not credentials.token:
        raise ApiError(
            401,
            "missing_feedback_token",
            f"This needs the prediction's `feedback_token` (from its answer) in the {HEADER} "
            "header, or the admin key as `Authorization: Bearer <key>`.",
        )
    raise ApiError(
        403, "invalid_feedback_token", f"The {HEADER} header is not this prediction's token."
    )


async def record_feedback(
    database: PredictionStore,
    prediction_id: str,
    label: str,
    credentials: PredictionCredentials,
) -> dict:
    try:
        source = await authorise(database, prediction_id, credentials)
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
        replaced = await database.run(repository.set_feedback, row.id, label, source)
        if row.image_sha256 is not None:  # a text-only prediction has no image to keep
            await database.keep_after_feedback(row.image_sha256)
    except StoreUnavailable as exc:
        raise ApiError(503, "database_unavailable", f"Feedback not recorded: {exc}") from exc
    return {
        "prediction_id": row.id,
        "label": label,
        "predicted_label": row.label,
        "correct": label == row.label,
        "replaced": replaced,
        "source": source,
    }


async def stored_prediction(
    database: PredictionStore, prediction_id: str, credentials: PredictionCredentials
) -> dict:
    """The stored prediction with its feedback (None when there is none)."""
    try:
        await authorise(database, prediction_id, credentials)
        found = await database.run(repository.prediction_with_feedback, prediction_id)
    except StoreUnavailable as exc:
        raise ApiError(503, "database_unavailable", str(exc)) from exc
    if found is None:
        raise ApiError(404, "unknown_prediction", f"No stored prediction has id {prediction_id!r}.")
    row, feedback = found
    return {
        "id": row.id,
        "created_at": iso(row.created_at),
        "model": {"run_id": row.run_id, "architecture": row.architecture},
        "label": row.label,
        "confidence": row.confidence,
        "uncertain": row.uncertain,
        "probabilities": list(row.probabilities),
        "latency_ms": dict(row.latency_ms),
        "source": row.source,
        "title": row.title,
        "description": row.description,
        **row_details(row),
        "feedback": None
        if feedback is None
        else {
            "label": feedback.label,
            "correct": feedback.label == row.label,
            "source": feedback.source,
            "created_at": iso(feedback.created_at),
            "updated_at": iso(feedback.updated_at),
        },
    }
