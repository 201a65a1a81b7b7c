from typing import Annotated

from fastapi import APIRouter, Depends

from flipkart_api.schemas import ERROR_RESPONSES, ModelItem, ModelList
from flipkart_api.state import AppState, get_state

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=ModelList, summary="Registered models with their cards")
async def list_models(state: Annotated[AppState, Depends(get_state)]) -> dict:
    current = state.store.current
    return {
        "production": current.production,
        "models": [m.describe(current.production) for m in current.models.values()],
    }


@router.get(
    "/{name}",
    response_model=ModelItem,
    responses=ERROR_RESPONSES,
    summary="One model by run_id or card name",
)
async def get_model(name: str, state: Annotated[AppState, Depends(get_state)]) -> dict:
    current = state.store.current
    return current.resolve(name).describe(current.production)
