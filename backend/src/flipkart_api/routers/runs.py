"""What the training and the test split say, for the app's Models tab: the kept runs and their
learning curves (flipkart_api.runs), and which test images fell in each cell of a model's
confusion matrix (`models/<run_id>/test_predictions.json` and `thumbnails/`, written by
`python -m flipkart_api.tools.test_cells`). Reads only: not rate-limited."""

import json
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from flipkart_contract.run_id import RUN_ID_PATTERN
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from flipkart_api.deps import CatalogDep, SettingsDep
from flipkart_api.errors import ApiError
from flipkart_api.runs import describe_run, find_runs, run_curves
from flipkart_api.schemas import (
    MODEL_NAME_PATTERN,
    RunCurves,
    RunList,
    TestPredictions,
    error_responses,
)
from flipkart_api.tools.test_cells import FILE_NAME, THUMBNAILS

router = APIRouter(prefix="/v1", tags=["models"])
IMAGE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$"


@router.get("/runs", response_model=RunList, summary="The kept runs of both labs")
async def list_runs(settings: SettingsDep) -> dict:
    def work() -> list[dict]:
        return [describe_run(run) for run in find_runs(settings.runs_folder()).values()]

    return {"runs": await run_in_threadpool(work)}


@router.get(
    "/runs/{run_id}/curves",
    response_model=RunCurves,
    responses=error_responses(404, 422),
    summary="A run's learning curves: its TensorBoard scalars by tag",
)
async def curves(
    run_id: Annotated[str, Path(max_length=200, pattern=RUN_ID_PATTERN)],
    settings: SettingsDep,
    tag: Annotated[
        list[str] | None,
        Query(max_length=20, description="Only these tags (repeat the parameter; default: all)."),
    ] = None,
) -> dict:
    run = (await run_in_threadpool(find_runs, settings.runs_folder())).get(run_id)
    if run is None:
        raise ApiError(404, "unknown_run", f"No kept run {run_id!r} on this server.")
    found = await run_in_threadpool(run_curves, run.folder)
    wanted = found if not tag else {name: found[name] for name in tag if name in found}
    return {"run_id": run_id, "framework": run.framework, "curves": wanted}


@router.get(
    "/models/{model}/test-predictions",
    response_model=TestPredictions,
    responses=error_responses(404, 422),
    summary="The model's predictions on the test split (which images fell in each cell of its "
    "confusion matrix)",
)
async def test_predictions(
    model: Annotated[
        str,
        Path(max_length=200, pattern=MODEL_NAME_PATTERN, description="run_id or architecture."),
    ],
    catalog: CatalogDep,
    settings: SettingsDep,
) -> dict:
    loaded = catalog.current.resolve(model)
    path = FilePath(settings.artifacts_root) / "models" / loaded.run_id / FILE_NAME
    try:
        text = await run_in_threadpool(path.read_text, encoding="utf-8")
        cells = TestPredictions.model_validate(json.loads(text))
    except (OSError, ValueError, ValidationError) as exc:
        raise ApiError(
            404,
            "no_test_predictions",
            f"No test predictions for {loaded.run_id} on this server "
            "(python -m flipkart_api.tools.test_cells writes them).",
        ) from exc
    if cells.run_id != loaded.run_id:
        raise ApiError(404, "no_test_predictions", f"{path.name} is not {loaded.run_id}'s.")
    return cells.model_dump()


@router.get(
    "/thumbnails/{image}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(404, 422)},
    summary="A small JPEG of a test image (see test-predictions)",
)
async def thumbnail(
    image: Annotated[str, Path(max_length=200, pattern=IMAGE_NAME_PATTERN)],
    settings: SettingsDep,
) -> Response:
    folder = FilePath(settings.artifacts_root) / THUMBNAILS

    def read() -> bytes | None:
        # Only a file listed in the folder: the name never becomes a path of its own.
        names = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
        return (folder / image).read_bytes() if image in names else None

    data = await run_in_threadpool(read)
    if data is None:
        raise ApiError(404, "unknown_image", f"No thumbnail {image!r} on this server.")
    return Response(
        content=data, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"}
    )
