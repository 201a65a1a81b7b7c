"""Dynamic micro-batching: requests arriving together share one ONNX Runtime call.

The first waiting image opens a batch; the batch closes when it holds `max_size` images or
`max_wait_ms` have passed. Inference runs on a dedicated thread, off the event loop, so the
loop keeps accepting (and decoding) requests while a batch computes.
"""

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

RunBatch = Callable[[np.ndarray], np.ndarray]
OnBatch = Callable[[int, float], None]


@dataclass
class _Item:
    pixels: np.ndarray
    future: asyncio.Future


class MicroBatcher:
    def __init__(
        self,
        run_batch: RunBatch,
        max_size: int,
        max_wait_ms: float,
        on_batch: OnBatch | None = None,
    ) -> None:
        self._run_batch = run_batch
        self._max_size = max(1, max_size)
        self._max_wait_s = max(0.0, max_wait_ms) / 1000
        self._on_batch = on_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Item | None] | None = None
        self._worker: asyncio.Task | None = None
        self._closed = False

    async def submit(self, pixels: np.ndarray) -> np.ndarray:
        """Logits for one image (`pixels` is `[H, W, 3]`)."""
        loop = asyncio.get_running_loop()
        if self._closed:
            # A request that picked this model just before a swap is still answered, unbatched.
            logits = await loop.run_in_executor(None, self._run_batch, pixels[None])
            return logits[0]
        if self._loop is not loop or self._worker is None or self._worker.done():
            self._start(loop)
        future = loop.create_future()
        self._queue.put_nowait(_Item(pixels, future))
        return await future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue = asyncio.Queue()
        self._worker = loop.create_task(self._work(self._queue), name="micro-batcher")

    async def _work(self, queue: asyncio.Queue) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await queue.get()
            if first is None:  # drain() asked to stop; everything before it was served
                return
            items = [first]
            deadline = loop.time() + self._max_wait_s
            while len(items) < self._max_size:
                if not queue.empty():
                    item = queue.get_nowait()
                else:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(queue.get(), remaining)
                    except TimeoutError:
                        break
                if item is None:
                    stopping = True
                    break
                items.append(item)
            items = [item for item in items if not item.future.cancelled()]
            if items:
                await self._run(loop, items)

    async def _run(self, loop: asyncio.AbstractEventLoop, items: list[_Item]) -> None:
        batch = np.stack([item.pixels for item in items])
        start = time.perf_counter()
        try:
            logits = await loop.run_in_executor(self._executor, self._run_batch, batch)
        except Exception as exc:
            for item in items:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        if self._on_batch is not None:
            self._on_batch(len(items), time.perf_counter() - start)
        for item, row in zip(items, logits, strict=True):
            if not item.future.done():
                item.future.set_result(row)

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Serve everything already queued, then stop the worker (later submits run unbatched)."""
        self._closed = True
        if self._queue is not None and self._worker is not None and not self._worker.done():
            self._queue.put_nowait(None)
            if self._loop is asyncio.get_running_loop():
                try:
                    await asyncio.wait_for(asyncio.shield(self._worker), timeout_s)
                except TimeoutError:
                    self._worker.cancel()
        self._executor.shutdown(wait=False)
