from typing import Annotated

from fastapi import APIRouter, Path

from flipkart_api.deps import CatalogDep
from flipkart_api.schemas import MODEL_NAME_PATTERN, ModelItem, ModelList, error_responses

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get(
    "",
    response_model=ModelList,
    summary="Registered models with their cards, the listing (image + text fusion) if any, "
    "and why any of them is not loaded",
)
async def list_models(catalog: CatalogDep) -> dict:
    current = catalog.current
    return {
        "production": current.production,
        "models": [m.describe(current.production) for m in current.models.values()],
        "listing": current.describe_listing(),
        "problems": dict(current.problems),
    }


@router.get(
    "/{model}",
    response_model=ModelItem,
    responses=error_responses(404, 422),  # 422: invalid name, or an ambiguous architecture
    summary="One model by run_id or architecture",
)
async def get_model(
    model: Annotated[
        str,
        Path(max_length=200, pattern=MODEL_NAME_PATTERN, description="run_id or architecture."),
    ],
    catalog: CatalogDep,
) -> dict:
    current = catalog.current
    return current.resolve(model).describe(current.production)
