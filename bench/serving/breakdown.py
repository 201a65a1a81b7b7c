"""Where a request's CPU time goes: each step of the request path timed alone, single thread.

Steps (CPU ms per image, `time.process_time`, one thread, median of `--repeat` passes over the
image set): header (`open_image` + `decode_cost`), decode (`finish_decode`, JPEG draft included),
resize (the card's policy), pixels (`to_pixels` float32), inference (ONNX Runtime at batch 4,
one intra-op thread, and the service's default), answer (softmax, sort, the answer's dict) and
JSON (FastAPI's response model validation + encoding). `--http` also loads a running service
(`flipkart-api serve`, store off) with the same images at concurrency 16 and reports its server
CPU per image; what the steps do not explain is the framework (uvicorn, Starlette/FastAPI
routing, multipart parsing, middleware, the thread hops).

Run from the repository root (after make_model.py):
  uv run --project backend python bench/serving/breakdown.py [--http]
"""

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from flipkart_api.catalog import open_session
from flipkart_api.preprocess import open_upload
from flipkart_api.schemas import PredictResponse
from flipkart_api.services.prediction import softmax
from flipkart_api.settings import Settings
from flipkart_contract import load_card, resize, to_pixels
from flipkart_contract.images import finish_decode

sys.path.insert(0, str(Path(__file__).parent))
import run  # the benchmark's image sets, server start and load generator


def cpu_ms(fn, items, repeat: int) -> float:
    """Median over `repeat` passes of the CPU ms per item of `fn(item)`."""
    passes = []
    for _ in range(repeat):
        start = time.process_time()
        for item in items:
            fn(item)
        passes.append((time.process_time() - start) * 1000 / len(items))
    return round(float(np.median(passes)), 3)


def steps(images: list[bytes], model_onnx: Path, repeat: int) -> dict:
    card = load_card(model_onnx.parent / "card.json")
    policy = card.resize_policy
    max_pixels = Settings().max_pixels
    out = {"header": cpu_ms(lambda d: open_upload(d, policy, max_pixels), images, repeat)}

    def decoded(data: bytes):
        return finish_decode(open_upload(data, policy, max_pixels)[0], policy)

    out["decode"] = round(cpu_ms(decoded, images, repeat) - out["header"], 3)
    rgb = [decoded(d) for d in images]
    out["resize"] = cpu_ms(lambda image: resize(image, policy), rgb, repeat)
    resized = [resize(image, policy) for image in rgb]
    out["pixels_float32"] = cpu_ms(lambda image: to_pixels(image, np.float32), resized, repeat)
    pixels = np.stack([to_pixels(image, np.float32) for image in resized])
    batches = [pixels[i : i + 4] for i in range(0, len(pixels) - 3, 4)]
    for name, threads in (("inference_1_thread", 1), ("inference_default_threads", 0)):
        session = open_session(model_onnx, Settings(inference_threads=threads))
        session.run(["logits"], {"pixels": batches[0]})
        per_batch = cpu_ms(lambda b, s=session: s.run(["logits"], {"pixels": b}), batches, repeat)
        out[name] = round(per_batch / 4, 3)
    logits = session.run(["logits"], {"pixels": pixels})[0]
    classes = card.classes

    def answer(row: np.ndarray) -> dict:
        probabilities = softmax(row)
        order = np.argsort(-probabilities, kind="stable")
        return {
            "id": None,
            "feedback_token": None,
            "cached": False,
            "model": {"run_id": card.run_id, "architecture": card.architecture},
            "label": classes[int(order[0])],
            "confidence": float(probabilities[order[0]]),
            "uncertain": False,
            "probabilities": [
                {"label": classes[int(i)], "probability": float(probabilities[int(i)])}
                for i in order
            ],
            "latency_ms": {"decode": 1.0, "preprocess": 1.0, "inference": 1.0, "total": 1.0},
        }

    out["answer"] = cpu_ms(answer, list(logits), repeat)
    answers = [answer(row) for row in logits]
    field = PredictResponse

    def encode(body: dict) -> bytes:
        # what FastAPI does with a route's dict and its response_model
        validated = field.model_validate(body)
        return JSONResponse(jsonable_encoder(validated)).body

    out["json"] = cpu_ms(encode, answers, repeat)
    out["sum_without_inference"] = round(
        sum(out[k] for k in ("header", "decode", "resize", "pixels_float32", "answer", "json")), 3
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--http", action="store_true", help="also load the running service")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--env", default="{}", help="JSON of extra FLIPKART_* for --http")
    args = parser.parse_args()
    model_onnx = next((run.WORK / "artifacts" / "models").glob("*/model.onnx"), None)
    if model_onnx is None:
        sys.exit("run first: uv run --project notebook-pytorch python bench/serving/make_model.py")
    image_sets = {"synthetic_1100px_jpeg": run.synthetic_jpegs(16)}
    real = run.flipkart_images(64)
    if real:
        image_sets["flipkart_test_split"] = real
    report = {}
    for name, images in image_sets.items():
        report[name] = steps(images, model_onnx, args.repeat)
    if args.http:
        env = {"FLIPKART_STORE_ENABLED": "false"} | json.loads(args.env)
        api, port = run.start_api(env, "api-breakdown.log")
        try:
            for name, images in image_sets.items():
                url = f"http://127.0.0.1:{port}"
                result = asyncio.run(
                    run.load(url, api.pid, run.multipart, images, 16, args.requests)
                )
                entry = report[name]
                entry["http_server_cpu_ms_per_image_c16"] = result["server_cpu_ms_per_image"]
                entry["http_images_per_s_c16"] = result["images_per_s"]
        finally:
            run.stop(api)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
