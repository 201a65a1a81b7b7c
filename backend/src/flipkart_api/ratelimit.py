"""Optional per-client rate limit on the prediction routes: token buckets, 429 + Retry-After.

The routes that run a model declare `flipkart_api.deps.rate_limit` as a dependency.
"""

import math
import time
from collections import OrderedDict

from fastapi import Request

from flipkart_api.errors import ApiError


class TokenBuckets:
    """`per_minute` requests per client on average, bursts up to `burst`; bounded memory."""

    def __init__(self, per_minute: float, burst: int, max_clients: int = 10_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1, burst)
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float | None = None) -> float:
        """0 when the request may go ahead, else the seconds until it could."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:  # forget the least recently seen
            self._buckets.popitem(last=False)
        return wait


class RateLimiter:
    """The buckets and how a client is recognised; `check` is the routes' dependency's work."""

    def __init__(self, per_minute: float, burst: int, trust_forwarded: bool = False) -> None:
        self.buckets = TokenBuckets(per_minute, burst)
        self.trust_forwarded = trust_forwarded

    def client_of(self, request: Request) -> str:
        if self.trust_forwarded:
            forwarded = request.headers.get("x-forwarded-for")
            if forwarded:
                return forwarded.split(",")[0].strip()
        return request.client.host if request.client else "unknown"

    def check(self, request: Request) -> None:
        wait = self.buckets.take(self.client_of(request))
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                429,
                "rate_limited",
                f"Too many prediction requests; retry in {retry_after} s.",
                headers={"Retry-After": str(retry_after)},
            )
