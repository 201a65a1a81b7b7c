"""Per-client rate limit on the routes that do work: token buckets, 429 + Retry-After.

The routes declare `flipkart_api.deps.rate_limit` as a dependency (one unit); a batch pays one
more unit per further image once its images are counted (`flipkart_api.deps.batch_images`).

A client is its socket peer. `X-Forwarded-For` is believed only when that peer is a trusted
proxy (`FLIPKART_TRUSTED_PROXIES`); the client is then the right-most address of the header
that is not itself a trusted proxy (the addresses to its left are the client's own claims).
"""

import math
import time
from collections import OrderedDict
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from fastapi import Request

from flipkart_api.errors import ApiError

Network = IPv4Network | IPv6Network


class TokenBuckets:
    """`per_minute` units per client on average, bursts up to `burst`; bounded memory."""

    def __init__(self, per_minute: float, burst: int, max_clients: int = 10_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1, burst)
        self.max_clients = max_clients
        self.clock = time.monotonic
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float | None = None, cost: int = 1) -> float:
        """0 when `cost` units were taken, else the seconds until they could be (none taken).

        A cost above the burst is charged as the burst: a full bucket pays for it.
        """
        now = self.clock() if now is None else now
        cost = min(max(1, cost), self.burst)
        tokens, last = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= cost:
            tokens -= cost
        else:
            wait = (cost - tokens) / self.rate
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:  # forget the least recently seen
            self._buckets.popitem(last=False)
        return wait


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        address = ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


class RateLimiter:
    """The buckets and how a client is recognised; `check` is the routes' dependency's work."""

    def __init__(self, per_minute: float, burst: int, trusted: list[Network] | None = None) -> None:
        self.buckets = TokenBuckets(per_minute, burst)
        self.trusted = list(trusted or [])

    def is_trusted(self, host: str) -> bool:
        address = _address(host)
        return address is not None and any(address in network for network in self.trusted)

    def client_of(self, request: Request) -> str:
        peer = request.client.host if request.client else "unknown"
        if not self.trusted or not self.is_trusted(peer):
            return peer
        hops = [
            hop.strip()
            for header in request.headers.getlist("x-forwarded-for")
            for hop in header.split(",")
            if hop.strip()
        ]
        for hop in reversed(hops):
            if not self.is_trusted(hop):
                return hop[:64]
        return hops[0][:64] if hops else peer

    def check_rest_of_batch(self, request: Request, images: int) -> None:
        """A batch's units after the first (`check` took it); a batch over the burst costs the
        burst."""
        rest = min(images, self.buckets.burst) - 1
        if rest > 0:
            self.check(request, cost=rest)

    def check(self, request: Request, cost: int = 1) -> None:
        wait = self.buckets.take(self.client_of(request), cost=cost)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                429,
                "rate_limited",
                f"Too many requests from this client; retry in {retry_after} s.",
                headers={"Retry-After": str(retry_after)},
            )
