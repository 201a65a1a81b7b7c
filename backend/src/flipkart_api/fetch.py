"""Fetching an image by URL without becoming an SSRF proxy.

Every connection (the first and each redirect) goes through `GuardedBackend`, which resolves
the host itself, refuses non-public addresses before any socket is opened, and then connects
to the very address it checked (no second DNS lookup that could be rebound). TLS still
verifies the certificate against the host name.
"""

import asyncio
import functools
import ipaddress
import socket
import ssl
from urllib.parse import urljoin, urlsplit

import httpcore

from flipkart_api.errors import ApiError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud metadata services: refused even when private addresses are allowed.
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("169.254.170.2"),
    ipaddress.ip_address("100.100.100.200"),
    ipaddress.ip_address("fd00:ec2::254"),
}
REDIRECT_STATUSES = {301, 302, 303, 307, 308}


def refusal(address: IPAddress, allow_private: bool) -> str | None:
    """Why connecting to `address` is refused, or None when it is allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_global and not address.is_multicast:
        return None
    if allow_private and (address.is_private or address.is_loopback or address.is_link_local):
        return None
    return "a private, loopback, link-local or reserved address"


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ApiError(422, "url_unreachable", f"Cannot resolve host {host!r}.") from exc
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = await resolve(host, port)
        for address in addresses:
            why = refusal(address, self.allow_private)
            if why is not None:
                raise ApiError(
                    422, "url_forbidden", f"The URL's host {host} resolves to {why}; refused."
                )
        # Connect to the checked addresses themselves, in resolver order (IPv6 may be absent).
        for address in addresses[:-1]:
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError:
                continue
        return await self.inner.connect_tcp(
            str(addresses[-1]), port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(self, *args, **kwargs):
        raise ApiError(422, "url_forbidden", "Unix sockets are not allowed.")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


@functools.cache
def tls_context() -> ssl.SSLContext:
    # Loading the CA store takes ~0.3 s: do it once per process, not per fetch.
    return ssl.create_default_context()


def check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ApiError(422, "invalid_url", f"Malformed URL: {exc}.") from exc
    if parts.scheme not in ("http", "https"):
        raise ApiError(422, "invalid_url", "Only http:// and https:// URLs are accepted.")
    if not parts.hostname:
        raise ApiError(422, "invalid_url", "The URL has no host.")
    if parts.username or parts.password:
        raise ApiError(422, "invalid_url", "URLs with credentials are not accepted.")


async def fetch_image(
    url: str, *, max_bytes: int, timeout_s: float, max_redirects: int, allow_private: bool
) -> bytes:
    """The body at `url` (following at most `max_redirects` redirects), at most `max_bytes`."""
    try:
        async with asyncio.timeout(timeout_s):
            return await _fetch(url, max_bytes, timeout_s, max_redirects, allow_private)
    except TimeoutError as exc:
        raise ApiError(
            422, "url_timeout", f"The URL did not answer within {timeout_s:g} s."
        ) from exc


async def _fetch(
    url: str, max_bytes: int, timeout_s: float, max_redirects: int, allow_private: bool
) -> bytes:
    timeouts = {"connect": timeout_s, "read": timeout_s, "write": timeout_s, "pool": timeout_s}
    async with httpcore.AsyncConnectionPool(
        ssl_context=tls_context(),
        network_backend=GuardedBackend(allow_private),
        max_connections=1,
    ) as pool:
        for _ in range(max_redirects + 1):
            check_url(url)
            headers = [(b"Accept", b"image/*"), (b"User-Agent", b"flipkart-api")]
            try:
                async with pool.stream(
                    "GET", url, headers=headers, extensions={"timeout": timeouts}
                ) as response:
                    if response.status in REDIRECT_STATUSES:
                        location = header(response, b"location")
                        if not location:
                            raise ApiError(422, "url_unreachable", "Redirect without Location.")
                        url = urljoin(url, location.decode("latin-1"))
                        continue
                    if response.status != 200:
                        raise ApiError(
                            422, "url_unreachable", f"The URL answered HTTP {response.status}."
                        )
                    return await _read_limited(response, max_bytes)
            except httpcore.TimeoutException as exc:
                raise ApiError(
                    422, "url_timeout", f"The URL did not answer within {timeout_s:g} s."
                ) from exc
            except (
                httpcore.NetworkError,
                httpcore.ProtocolError,
                httpcore.UnsupportedProtocol,
                ssl.SSLError,
                OSError,
            ) as exc:
                raise ApiError(
                    422, "url_unreachable", f"Cannot fetch the URL: {exc}."[:300]
                ) from exc
    raise ApiError(422, "too_many_redirects", f"More than {max_redirects} redirects.")


def header(response: httpcore.Response, name: bytes) -> bytes | None:
    for key, value in response.headers:
        if key.lower() == name:
            return value
    return None


async def _read_limited(response: httpcore.Response, max_bytes: int) -> bytes:
    declared = header(response, b"content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks, total = [], 0
    async for chunk in response.aiter_stream():
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"The image at the URL is over {max_bytes} bytes.")
