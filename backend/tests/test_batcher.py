"""The dynamic micro-batcher: batching, ordering, off-loop inference, draining."""

import asyncio
import threading

import numpy as np
import pytest
from flipkart_api.batcher import MicroBatcher

pytestmark = pytest.mark.anyio


def make(max_size: int, max_wait_ms: float, delay_s: float = 0.0):
    batches: list[int] = []
    threads: set[str] = set()

    def run_batch(batch: np.ndarray) -> np.ndarray:
        threads.add(threading.current_thread().name)
        if delay_s:
            threading.Event().wait(delay_s)
        return batch.reshape(len(batch), -1).sum(axis=1, keepdims=True) * np.ones((1, 2))

    def on_batch(size: int, seconds: float) -> None:
        batches.append(size)

    return MicroBatcher(run_batch, max_size, max_wait_ms, on_batch), batches, threads


async def test_concurrent_submissions_share_batches_and_keep_their_results() -> None:
    batcher, batches, threads = make(max_size=4, max_wait_ms=20)
    inputs = [np.full((2, 2, 3), i, np.float32) for i in range(10)]
    outputs = await asyncio.gather(*(batcher.submit(x) for x in inputs))
    for i, out in enumerate(outputs):
        assert out.tolist() == [12.0 * i, 12.0 * i]
    assert sum(batches) == 10 and max(batches) == 4 and len(batches) < 10
    assert threads and threading.current_thread().name not in threads
    await batcher.drain()


async def test_a_lone_request_waits_at_most_max_wait() -> None:
    batcher, batches, _ = make(max_size=16, max_wait_ms=1)
    out = await asyncio.wait_for(batcher.submit(np.ones((1, 1, 3), np.float32)), 2)
    assert out.tolist() == [3.0, 3.0] and batches == [1]
    await batcher.drain()


async def test_the_event_loop_keeps_running_during_inference() -> None:
    batcher, _, _ = make(max_size=1, max_wait_ms=0, delay_s=0.3)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(10):
            await asyncio.sleep(0.01)
            ticks += 1

    await asyncio.gather(batcher.submit(np.ones((1, 1, 3), np.float32)), ticker())
    assert ticks == 10
    await batcher.drain()


async def test_drain_serves_queued_work_and_later_submits_still_answer() -> None:
    batcher, _, _ = make(max_size=2, max_wait_ms=50, delay_s=0.05)
    pending = [
        asyncio.ensure_future(batcher.submit(np.full((1, 1, 3), i, np.float32))) for i in range(5)
    ]
    await asyncio.sleep(0)
    await batcher.drain()
    assert [p.result().tolist() for p in pending] == [[3.0 * i] * 2 for i in range(5)]
    late = await batcher.submit(np.full((1, 1, 3), 7, np.float32))
    assert late.tolist() == [21.0, 21.0]


async def test_an_inference_error_reaches_every_waiter() -> None:
    def explode(batch: np.ndarray) -> np.ndarray:
        raise RuntimeError("boom")

    batcher = MicroBatcher(explode, 4, 5)
    results = await asyncio.gather(
        *(batcher.submit(np.ones((1, 1, 3), np.float32)) for _ in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    await batcher.drain()
