"""Bounded decoding memory: the decode budget shared by the requests in flight (503 +
Retry-After when it stays spent, 413 when one image alone exceeds it), and the heap returned."""

import asyncio
import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import make_settings
from fastapi.testclient import TestClient
from flipkart_api import memory
from flipkart_api.app import create_app
from flipkart_api.errors import ApiError
from flipkart_api.memory import DecodeBudget, return_memory
from flipkart_api.services import prediction
from flipkart_contract import ResizePolicy
from flipkart_contract.images import decode_cost, open_image
from flipkart_contract.testing import image_bytes
from PIL import Image

MIB = 1024 * 1024


def huge_png(side: int = 3000) -> bytes:
    """A few KB of PNG that decodes to `side` x `side` pixels (bilevel, a few lines drawn)."""
    image = Image.new("1", (side, side), 1)
    for x in range(0, side, 97):
        image.paste(0, (x, 0, x + 1, side))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


HUGE = huge_png()
SMALL = image_bytes((40, 30))
# The test models' policy (pad to 32 px); the cost only depends on the header and the policy.
HUGE_COST = decode_cost(open_image(HUGE, policy=ResizePolicy(size=32)), ResizePolicy(size=32))


def test_the_huge_test_image_is_small_on_the_wire_and_large_in_memory() -> None:
    assert len(HUGE) < 50_000
    assert HUGE_COST >= 3000 * 3000  # at least one byte per pixel


# The budget alone.


@pytest.mark.anyio
async def test_budget_admits_up_to_its_limit_and_tracks_its_high_water_mark() -> None:
    budget = DecodeBudget(100, wait_s=5)
    async with budget.reserve(60), budget.reserve(40):
        assert budget.in_use == 100
    assert budget.in_use == 0 and budget.high_water == 100


@pytest.mark.anyio
async def test_budget_makes_a_request_wait_for_room_then_serves_it() -> None:
    budget = DecodeBudget(100, wait_s=30)
    order: list[str] = []
    first_in = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with budget.reserve(80):
            order.append("first in")
            first_in.set()
            await release_first.wait()
        order.append("first out")

    async def second() -> None:
        await first_in.wait()
        async with budget.reserve(50):
            order.append("second in")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await first_in.wait()
    await asyncio.sleep(0.05)
    assert order == ["first in"] and len(budget._waiters) == 1  # second is waiting
    release_first.set()
    await asyncio.gather(*tasks)
    assert order == ["first in", "first out", "second in"]
    assert budget.high_water == 80 and budget.in_use == 0


@pytest.mark.anyio
async def test_budget_answers_503_with_retry_after_when_it_stays_spent() -> None:
    budget = DecodeBudget(100, wait_s=0.05)
    async with budget.reserve(90):
        with pytest.raises(ApiError) as refused:
            async with budget.reserve(20):
                pass
        async with budget.reserve(10):  # what still fits goes ahead
            assert budget.in_use == 100
    error = refused.value
    assert error.status == 503 and error.code == "server_busy"
    assert error.headers == {"Retry-After": "1"}
    assert budget.refused == 1 and budget.in_use == 0 and not budget._waiters


@pytest.mark.anyio
async def test_budget_refuses_what_could_never_fit_with_413() -> None:
    budget = DecodeBudget(100, wait_s=5)
    with pytest.raises(ApiError) as refused:
        async with budget.reserve(101):
            pass
    assert refused.value.status == 413 and refused.value.code == "too_many_pixels"
    assert budget.in_use == 0 and budget.high_water == 0


@pytest.mark.anyio
async def test_budget_serves_waiters_in_order_and_survives_a_cancelled_one() -> None:
    budget = DecodeBudget(100, wait_s=30)
    served: list[int] = []
    async with budget.reserve(100):

        async def wait_for(cost: int) -> None:
            async with budget.reserve(cost):
                served.append(cost)

        big = asyncio.create_task(wait_for(70))
        await asyncio.sleep(0.01)
        gone = asyncio.create_task(wait_for(20))
        await asyncio.sleep(0.01)
        small = asyncio.create_task(wait_for(30))
        await asyncio.sleep(0.01)
        gone.cancel()  # a client that went away while waiting
        await asyncio.sleep(0.01)
        assert served == [] and len(budget._waiters) == 2
    await asyncio.gather(big, small)
    assert served == [70, 30] and budget.in_use == 0 and budget.high_water == 100


# Through the service.


def test_concurrent_huge_dimension_images_keep_to_the_budget(artifacts) -> None:
    """8 huge-dimension uploads at once and small ones beside them: all answered, and the
    decodes in flight never held more than the budget (room for two huge ones)."""
    limit = 2 * HUGE_COST + MIB
    settings = make_settings(artifacts, decode_budget_bytes=limit, decode_wait_s=120)
    app = create_app(settings)
    budget = app.state.decode_budget
    with TestClient(app) as client:

        def post(data: bytes) -> int:
            files = {"file": ("x.png", data, "image/png")}
            return client.post("/v1/predict", files=files).status_code

        with ThreadPoolExecutor(12) as pool:
            statuses = list(pool.map(post, [HUGE] * 8 + [SMALL] * 4))
    assert statuses == [200] * 12
    assert HUGE_COST <= budget.high_water <= limit
    assert budget.in_use == 0 and budget.refused == 0


def test_over_budget_requests_get_503_while_in_budget_ones_succeed(artifacts, monkeypatch) -> None:
    """One huge decode is held in flight; a second huge one cannot fit and is refused after
    the wait; a small one fits beside it and is answered."""
    limit = HUGE_COST + MIB
    settings = make_settings(artifacts, decode_budget_bytes=limit, decode_wait_s=0.2)
    app = create_app(settings)
    budget = app.state.decode_budget
    decoding_huge, finish_huge = threading.Event(), threading.Event()
    real_pixels_of = prediction.pixels_of

    def held_pixels_of(opened, policy, **kwargs):
        if opened.size[0] >= 3000:
            decoding_huge.set()
            assert finish_huge.wait(60)
        return real_pixels_of(opened, policy, **kwargs)

    monkeypatch.setattr(prediction, "pixels_of", held_pixels_of)
    with TestClient(app) as client:

        def post(data: bytes):
            return client.post("/v1/predict", files={"file": ("x.png", data, "image/png")})

        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(post, HUGE)
            assert decoding_huge.wait(60)
            refused = post(HUGE)
            small = post(SMALL)
            batch = client.post(
                "/v1/predict/batch",
                files=[
                    ("files", ("a.png", HUGE, "image/png")),
                    ("files", ("b.png", SMALL, "image/png")),
                ],
            )
            finish_huge.set()
            assert first.result().status_code == 200
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "server_busy"
    assert int(refused.headers["retry-after"]) >= 1
    assert small.status_code == 200
    slots = batch.json()["results"]
    assert slots[0]["error"]["code"] == "server_busy" and "label" in slots[1]
    assert budget.high_water <= limit and budget.in_use == 0 and budget.refused == 2


def test_an_image_over_the_whole_budget_is_refused_before_decoding(artifacts) -> None:
    settings = make_settings(artifacts, decode_budget_bytes=HUGE_COST - 1)
    app = create_app(settings)
    with TestClient(app) as client:
        files = {"file": ("x.png", HUGE, "image/png")}
        response = client.post("/v1/predict", files=files)
        preview = client.post("/v1/preprocess", files=files)
        assert client.post("/v1/predict", files={"file": ("s.png", SMALL, "image/png")}).is_success
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_many_pixels"
    assert "MiB" in response.json()["error"]["message"]
    assert preview.status_code == 413
    assert app.state.decode_budget.high_water < HUGE_COST


def test_the_budget_is_on_by_default_and_can_be_switched_off(artifacts) -> None:
    default = create_app(make_settings(artifacts)).state.decode_budget
    assert default is not None and default.limit == 256 * MIB and default.wait_s == 2.0
    assert create_app(make_settings(artifacts, decode_budget_bytes=0)).state.decode_budget is None


# The heap returned after a large decode.


def test_memory_is_returned_after_large_decodes_only(monkeypatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(memory, "_TRIM", lambda pad: calls.append(pad) or 1)
    assert not return_memory(10 * MIB, 32 * MIB)
    assert not return_memory(100 * MIB, 0)  # 0 = never
    assert return_memory(40 * MIB, 32 * MIB)
    assert calls == [0]
    monkeypatch.setattr(memory, "_TRIM", None)  # not glibc: nothing to call
    assert not return_memory(100 * MIB, 32 * MIB)


def test_malloc_trim_is_found_on_glibc() -> None:
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc_trim is glibc's")
    assert memory._TRIM is not None
    assert return_memory(64 * MIB, 32 * MIB)


def test_a_huge_decode_through_the_service_trims_the_heap(artifacts, monkeypatch) -> None:
    trimmed: list[tuple[int, int]] = []
    monkeypatch.setattr(prediction, "return_memory", lambda *a: trimmed.append(a) or True)
    settings = make_settings(artifacts, decode_trim_bytes=MIB)
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/predict", files={"file": ("x.png", HUGE, "image/png")}).is_success
    assert trimmed == [(HUGE_COST, MIB)]
