"""Optional per-client rate limit on the prediction routes: token buckets, 429 + Retry-After."""

import json
import math
import time
from collections import OrderedDict

LIMITED_PATHS = frozenset({"/v1/predict", "/v1/predict/batch", "/predict"})


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


class RateLimitMiddleware:
    def __init__(self, app, buckets: TokenBuckets, trust_forwarded: bool = False) -> None:
        self.app = app
        self.buckets = buckets
        self.trust_forwarded = trust_forwarded

    def client_of(self, scope) -> str:
        if self.trust_forwarded:
            for name, value in scope.get("headers") or []:
                if name == b"x-forwarded-for":
                    return value.decode("latin-1").split(",")[0].strip()
        client = scope.get("client")
        return client[0] if client else "unknown"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("path") not in LIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(self.client_of(scope))
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        body = json.dumps(
            {
                "error": {
                    "code": "rate_limited",
                    "message": f"Too many prediction requests; retry in {retry_after} s.",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry_after).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
