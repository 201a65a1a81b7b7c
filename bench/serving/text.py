"""What a listing's text adds to a prediction: one in-process service, the same photos sent as
image only, image + title, image + title + description, interleaved, in one run.

The service is the real app (`create_app`, store off so that nothing is answered from a cache,
rate limit off), driven through its ASGI interface (no sockets: the figures are the service's
own time, the text scoring and the fusion included). Each photo is sent in the three forms one
after the other (the order rotated), `--rounds` times; the report gives each form's median and
p95 latency and the median of the paired differences with the photo alone.

What it serves: the listing of `registry.json` when the artifacts have one (`artifacts/listing`,
`artifacts/text`); otherwise a listing made for the run in a temporary folder: the production
image model of the artifacts and the text model of `--text-model DIR` (`model.json` and
`card.json` of a text export), else the contract's tiny fixture text model (fusion weights 1, 1).
Photos: the test split's (`--images`, default `data/images`), else synthetic JPEGs; titles and
descriptions: the products' own (`data/dataset.csv`, as `make data` cleaned them: up to 2,000
characters), both sent raw so the service cleans them as it would a seller's text.

Run from the repository root:
  uv run --project backend python bench/serving/text.py [--images DIR] [--text-model DIR]
"""

import argparse
import asyncio
import csv
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from flipkart_api.app import create_app
from flipkart_api.settings import Settings
from flipkart_contract import (
    layout,
    load_card,
    load_registry,
    read_splits,
    sha256_bytes,
    write_json_atomic,
)
from flipkart_contract.schema import load_text_card
from flipkart_contract.testing import (
    LISTING_ID,
    listing_card_dict,
    registry_dict,
    text_card_dict,
    text_model_dict,
)
from flipkart_contract.text import (
    DESCRIPTION_MAX_CHARS,
    TITLE_MAX_CHARS,
    FusionWeights,
    TextModel,
    clean_text,
    fuse,
    listing_text,
)

sys.path.insert(0, str(Path(__file__).parent))
import run  # the image sets and the machine description of the serving benchmark

RESULTS = layout.bench_results("serving_text")
MODES = ("image", "image+title", "image+title+description")


def listings(count: int) -> list[tuple[str, str]]:
    """(title, description) of the test products, in split order."""
    dataset = layout.repo_root() / "data" / "dataset.csv"
    if not dataset.is_file():
        return [("Analog Watch - For Men", "analog watch for men " * 10)] * count
    with dataset.open(newline="", encoding="utf-8") as handle:
        rows = {row["image"]: row for row in csv.DictReader(handle)}
    names = [r["image"] for r in read_splits(layout.splits_csv()) if r["split"] == "test"]
    out = []
    for name in names[:count]:
        row = rows[name]
        out.append((row["product_name"], row.get("description") or ""))
    return out


def served_artifacts(artifacts: Path, text_model: Path | None, work: Path) -> tuple[Path, str]:
    """The artifacts folder to serve and what its listing is (real, or made for the run)."""
    registry = load_registry(artifacts / "registry.json")
    if registry.listing and (artifacts / "listing" / registry.listing / "card.json").is_file():
        return artifacts, f"the artifacts' listing {registry.listing}"
    production = registry.production
    root = work / "artifacts"
    shutil.copytree(artifacts / "models" / production, root / "models" / production)
    if text_model is not None:
        card = load_text_card(text_model / "card.json")
        folder = root / "text" / card.run_id
        shutil.copytree(text_model, folder)
        data = (folder / card.model.file).read_bytes()
        what = f"text model {card.run_id} (from {text_model})"
    else:
        data = json.dumps(text_model_dict()).encode()
        card_json = text_card_dict(data)
        folder = root / "text" / card_json["run_id"]
        folder.mkdir(parents=True)
        (folder / "model.json").write_bytes(data)
        write_json_atomic(folder / "card.json", card_json)
        card = load_text_card(folder / "card.json")
        what = "the contract's tiny fixture text model"
    image_card = load_card(root / "models" / production / "card.json")
    listing = listing_card_dict(
        production, image_card.onnx.sha256, sha256_bytes(data), text_run_id=card.run_id
    )
    write_json_atomic(root / "listing" / LISTING_ID / "card.json", listing)
    write_json_atomic(
        root / "registry.json", {**registry_dict(production, [production]), "listing": LISTING_ID}
    )
    return root, f"a listing made for the run: {production} + {what}, fusion weights 1, 1"


def ms(values: list[float]) -> dict:
    array = np.array(values) * 1000
    return {
        "p50": round(float(np.percentile(array, 50)), 3),
        "p95": round(float(np.percentile(array, 95)), 3),
        "mean": round(float(array.mean()), 3),
    }


async def measure(app, images: list[bytes], texts: list[tuple[str, str]], rounds: int) -> dict:
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    deltas: dict[str, list[float]] = {mode: [] for mode in MODES[1:]}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def post(data: bytes, fields: dict) -> float:
            start = time.perf_counter()
            response = await client.post(
                "/v1/predict", files={"file": ("x.jpg", data, "image/jpeg")}, data=fields
            )
            elapsed = time.perf_counter() - start
            assert response.status_code == 200, response.text
            return elapsed

        for data, (title, description) in zip(images[:2], texts, strict=False):  # warm-up
            await post(data, {"title": title, "description": description})
        for r in range(rounds):
            for i, (data, (title, description)) in enumerate(zip(images, texts, strict=True)):
                fields = {
                    "image": {},
                    "image+title": {"title": title},
                    "image+title+description": {"title": title, "description": description},
                }
                order = MODES[(i + r) % 3 :] + MODES[: (i + r) % 3]
                taken = {mode: await post(data, fields[mode]) for mode in order}
                for mode in MODES:
                    times[mode].append(taken[mode])
                for mode in MODES[1:]:
                    deltas[mode].append(taken[mode] - taken["image"])
    image_p50 = statistics.median(times["image"])
    return {
        "latency_ms": {mode: ms(values) for mode, values in times.items()},
        "added_ms_median_paired": {
            mode: round(statistics.median(values) * 1000, 3) for mode, values in deltas.items()
        },
        "ratio_p50_to_image": {
            mode: round(statistics.median(values) / image_p50, 3) for mode, values in times.items()
        },
    }


def text_parts(model: TextModel, texts: list[tuple[str, str]], repeat: int = 5) -> dict:
    """The text model's scoring and the fusion alone, ms per listing (median over passes)."""
    documents = {
        "title": [listing_text(clean_text(t, TITLE_MAX_CHARS), "") for t, _ in texts],
        "title+description": [
            listing_text(clean_text(t, TITLE_MAX_CHARS), clean_text(d, DESCRIPTION_MAX_CHARS))
            for t, d in texts
        ],
    }
    out = {}
    for kind, docs in documents.items():
        passes = []
        for _ in range(repeat):
            start = time.perf_counter()
            for doc in docs:
                model.logits([doc])
            passes.append((time.perf_counter() - start) * 1000 / len(docs))
        out[f"score_{kind}"] = round(statistics.median(passes), 4)
    image = np.full((1, len(model.classes)), 1 / len(model.classes))
    logits = model.logits(documents["title"][:1])
    calls = 1000
    start = time.perf_counter()
    for _ in range(calls):
        fuse(image, logits, FusionWeights(1.0, 1.0))
    out["fuse"] = round((time.perf_counter() - start) * 1000 / calls, 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=layout.artifacts_dir())
    parser.add_argument("--text-model", type=Path, default=None)
    parser.add_argument("--images", type=Path, default=layout.images_dir())
    parser.add_argument("--count", type=int, default=32, help="photos (products)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    texts = listings(args.count)
    names = [r["image"] for r in read_splits(layout.splits_csv()) if r["split"] == "test"]
    files = [args.images / name for name in names[: args.count]]
    if all(path.is_file() for path in files):
        images, image_set = [p.read_bytes() for p in files], "flipkart test split"
    else:
        images, image_set = run.synthetic_jpegs(args.count, size=800), "synthetic 800 px JPEGs"
    texts = texts[: len(images)]
    with tempfile.TemporaryDirectory(prefix="bench-text-") as work:
        root, listing = served_artifacts(args.artifacts, args.text_model, Path(work))
        settings = Settings(
            artifacts_root=root, store_enabled=False, rate_limit_per_minute=0, json_logs=False
        )
        app = create_app(settings)
        current = app.state.catalog.load()  # the ASGI transport does not run the lifespan
        if current.listing is None:
            why = current.listing_problem or current.reason
            raise SystemExit(f"the listing is not loaded: {why}")
        started = time.perf_counter()
        figures = asyncio.run(measure(app, images, texts, args.rounds))
        parts = text_parts(current.listing.text_model, texts)
        text_card = current.listing.text_card_json
    report = {
        "what": "one in-process service (ASGI, store off, multipart), each photo sent as image "
        "only, image + title, image + title + description, interleaved; added_ms = median of "
        "the per-photo differences with the photo alone",
        "listing": listing,
        "image_model": current.listing.image.run_id,
        "text_model": {
            "run_id": text_card["run_id"],
            "architecture": text_card["architecture"],
            "num_features": current.listing.text_model.num_features,
        },
        "images": image_set,
        "products": len(images),
        "rounds": args.rounds,
        "requests": len(images) * args.rounds * len(MODES),
        **figures,
        "text_alone_ms_per_listing": parts,
        "target": "fusion adds <= 2 ms per request; the photo-only path unchanged",
        "elapsed_s": round(time.perf_counter() - started, 1),
        "machine": run.machine(),
    }
    write_json_atomic(RESULTS, report)
    print(json.dumps({k: report[k] for k in ("latency_ms", "added_ms_median_paired")}, indent=1))
    print(f"→ {RESULTS}")


if __name__ == "__main__":
    main()
