"""A stored prediction's feedback and the prediction itself, for the client that received it.

Both routes need the prediction's `feedback_token` in the `X-Feedback-Token` header, or the
admin key (see flipkart_api.tokens).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from flipkart_api.deps import DatabaseDep, PredictionCredentialsDep, rate_limit
from flipkart_api.schemas import Prediction, error_responses
from flipkart_api.services.feedback import record_feedback, stored_prediction

router = APIRouter(prefix="/v1", tags=["feedback"])

ACCESS_ERRORS = error_responses(401, 403, 404, 422, 503)


class FeedbackRequest(BaseModel):
    prediction_id: str = Field(min_length=1, max_length=64)
    label: str = Field(min_length=1, max_length=200)


class FeedbackResponse(BaseModel):
    prediction_id: str
    label: str
    predicted_label: str
    correct: bool
    replaced: bool  # an earlier feedback on this prediction was replaced
    source: str  # feedback-token | admin: who gave the label


class StoredFeedback(BaseModel):
    label: str
    correct: bool
    source: str  # feedback-token | admin | unverified (given before tokens existed)
    created_at: str
    updated_at: str


class StoredPrediction(Prediction):
    id: str
    created_at: str
    source: str  # upload | base64 | url | raw | text (no image)
    feedback: StoredFeedback | None


@router.post(
    "/feedback",
    response_model=FeedbackResponse,
    responses=error_responses(400, 401, 403, 404, 422, 429, 503),
    dependencies=[Depends(rate_limit)],
    summary="The true label of a stored prediction (a second feedback replaces the first); "
    "needs its X-Feedback-Token or the admin key",
)
async def feedback(
    body: FeedbackRequest, database: DatabaseDep, credentials: PredictionCredentialsDep
) -> dict:
    return await record_feedback(database, body.prediction_id, body.label, credentials)


@router.get(
    "/predictions/{prediction_id}",
    response_model=StoredPrediction,
    responses=ACCESS_ERRORS,
    tags=["predict"],
    summary="A stored prediction and its feedback; needs its X-Feedback-Token or the admin key",
)
async def get_prediction(
    prediction_id: Annotated[str, Path(min_length=1, max_length=64)],
    database: DatabaseDep,
    credentials: PredictionCredentialsDep,
) -> dict:
    return await stored_prediction(database, prediction_id, credentials)
