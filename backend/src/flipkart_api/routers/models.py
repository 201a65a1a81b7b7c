from fastapi import APIRouter

from flipkart_api.deps import CatalogDep
from flipkart_api.schemas import ERROR_RESPONSES, ModelItem, ModelList

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=ModelList, summary="Registered models with their cards")
async def list_models(catalog: CatalogDep) -> dict:
    current = catalog.current
    return {
        "production": current.production,
        "models": [m.describe(current.production) for m in current.models.values()],
    }


@router.get(
    "/{model}",
    response_model=ModelItem,
    responses=ERROR_RESPONSES,
    summary="One model by run_id or architecture",
)
async def get_model(model: str, catalog: CatalogDep) -> dict:
    current = catalog.current
    return current.resolve(model).describe(current.production)
