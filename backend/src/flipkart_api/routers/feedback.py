from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from flipkart_api.errors import ApiError
from flipkart_api.schemas import ErrorBody
from flipkart_api.store import repository
from flipkart_api.store.predictions import PredictionStore, StoreUnavailable, get_predictions

router = APIRouter(prefix="/v1", tags=["feedback"])


class FeedbackRequest(BaseModel):
    prediction_id: str = Field(min_length=1, max_length=64)
    label: str = Field(min_length=1, max_length=200)


class FeedbackResponse(BaseModel):
    prediction_id: str
    label: str
    predicted_label: str
    correct: bool
    replaced: bool  # an earlier feedback on this prediction was replaced


@router.post(
    "/feedback",
    response_model=FeedbackResponse,
    responses={code: {"model": ErrorBody} for code in (404, 422, 503)},
    summary="The true label of a stored prediction (a second feedback replaces the first)",
)
async def feedback(
    body: FeedbackRequest,
    predictions: Annotated[PredictionStore, Depends(get_predictions)],
) -> dict:
    try:
        row = await predictions.run(repository.get_prediction, body.prediction_id)
        if row is None:
            raise ApiError(
                404, "unknown_prediction", f"No stored prediction has id {body.prediction_id!r}."
            )
        labels = [p["label"] for p in row.probabilities]
        if body.label not in labels:
            raise ApiError(
                422,
                "unknown_label",
                f"Unknown label {body.label!r}. Valid labels: {', '.join(sorted(labels))}.",
            )
        replaced = await predictions.run(repository.set_feedback, row.id, body.label)
        await predictions.keep_after_feedback(row.image_sha256)
    except StoreUnavailable as exc:
        raise ApiError(503, "database_unavailable", f"Feedback not recorded: {exc}") from exc
    return {
        "prediction_id": row.id,
        "label": body.label,
        "predicted_label": row.label,
        "correct": body.label == row.label,
        "replaced": replaced,
    }
