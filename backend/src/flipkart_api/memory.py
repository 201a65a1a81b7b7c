"""Bounded decoding memory: one byte budget for the pixels of every decode in flight, and the
heap handed back to the system after a large decode.

A small file can hold a huge image (a 15 KB PNG of 6,300 × 6,300 px decodes to 160 MB), so the
upload limits do not bound memory. Each decode reserves its estimated peak
(`flipkart_contract.images.decode_cost`, read from the header) before decoding; when the
budget is spent, a request waits up to `wait_s` for earlier decodes to finish, then gets
503 `server_busy` with `Retry-After`. Waiters are served first come, first served.
"""

import asyncio
import ctypes
import ctypes.util
import logging
import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from flipkart_api.errors import ApiError

log = logging.getLogger(__name__)
MIB = 1024 * 1024


@dataclass(eq=False)
class _Waiter:
    cost: int
    future: asyncio.Future
    granted: bool = field(default=False)


class DecodeBudget:
    """`limit_bytes` of decoded pixels shared by all requests; `high_water` is the most held."""

    def __init__(
        self,
        limit_bytes: int,
        wait_s: float,
        busy_message: str = "The server is decoding too many large images at once; retry shortly.",
    ) -> None:
        self.limit = limit_bytes
        self.busy_message = busy_message
        self.wait_s = max(0.0, wait_s)
        self.in_use = 0
        self.high_water = 0
        self.refused = 0  # requests answered 503 because the budget stayed spent
        self._waiters: deque[_Waiter] = deque()

    @asynccontextmanager
    async def reserve(self, cost: int) -> AsyncIterator[None]:
        """Hold `cost` bytes of the budget for the duration of the block."""
        cost = max(0, cost)
        if cost > self.limit:
            raise ApiError(
                413,
                "too_many_pixels",
                f"Decoding this image needs about {math.ceil(cost / MIB)} MiB; this server "
                f"decodes at most {self.limit // MIB} MiB at a time. Send a smaller image.",
            )
        await self._acquire(cost)
        try:
            yield
        finally:
            self._release(cost)

    async def _acquire(self, cost: int) -> None:
        if not self._waiters and self.in_use + cost <= self.limit:
            self._take(cost)
            return
        waiter = _Waiter(cost, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), self.wait_s)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if waiter.granted:  # granted just as the wait ended: give it back
                self._release(cost)
            else:
                self._waiters.remove(waiter)
                self._grant_waiting()  # a smaller one behind may fit now
            if isinstance(exc, asyncio.CancelledError):
                raise
            self.refused += 1
            retry_after = max(1, math.ceil(self.wait_s))
            raise ApiError(
                503,
                "server_busy",
                self.busy_message,
                headers={"Retry-After": str(retry_after)},
            ) from exc

    def _take(self, cost: int) -> None:
        self.in_use += cost
        self.high_water = max(self.high_water, self.in_use)

    def _release(self, cost: int) -> None:
        self.in_use -= cost
        self._grant_waiting()

    def _grant_waiting(self) -> None:
        while self._waiters and self.in_use + self._waiters[0].cost <= self.limit:
            waiter = self._waiters.popleft()
            self._take(waiter.cost)
            waiter.granted = True
            if not waiter.future.done():
                waiter.future.set_result(None)


def _malloc_trim():
    """glibc's `malloc_trim`, or None elsewhere (musl, macOS, Windows)."""
    name = ctypes.util.find_library("c")
    try:
        function = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if function is not None:
        function.argtypes = [ctypes.c_size_t]
        function.restype = ctypes.c_int
    return function


_TRIM = _malloc_trim()


def return_memory(decoded_bytes: int, threshold_bytes: int) -> bool:
    """After a decode of at least `threshold_bytes`, hand the heap's free pages back to the
    system (glibc keeps freed memory in its per-thread arenas otherwise). True when trimmed."""
    if _TRIM is None or threshold_bytes <= 0 or decoded_bytes < threshold_bytes:
        return False
    _TRIM(0)
    return True
