from fastapi import APIRouter
from pydantic import BaseModel, Field

from flipkart_api.deps import DatabaseDep
from flipkart_api.schemas import error_responses
from flipkart_api.services.feedback import record_feedback

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
    responses=error_responses(400, 404, 422, 503),
    summary="The true label of a stored prediction (a second feedback replaces the first)",
)
async def feedback(body: FeedbackRequest, database: DatabaseDep) -> dict:
    return await record_feedback(database, body.prediction_id, body.label)
