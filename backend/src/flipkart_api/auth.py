"""Admin access: a bearer API key whose sha256 must match one configured in the settings.

Only hashes are configured (`FLIPKART_ADMIN_KEY_SHA256`, comma-separated), and the comparison
uses `hmac.compare_digest` against every configured hash, so timing reveals nothing.
"""

import hashlib
import hmac
import re

from fastapi import Request

from flipkart_api.errors import ApiError
from flipkart_api.settings import Settings

HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")

HOW_TO_CONFIGURE = (
    "Admin routes are disabled because no API key is configured. Choose a secret key, set "
    'FLIPKART_ADMIN_KEY_SHA256 to its sha256 hex digest (printf %s "$KEY" | sha256sum), '
    "restart the service, and send the key as `Authorization: Bearer <key>`."
)


def configured_hashes(settings: Settings) -> list[bytes]:
    hashes = []
    for item in settings.admin_key_sha256.split(","):
        item = item.strip().lower()
        if not item:
            continue
        if not HEX_SHA256.match(item):
            raise ValueError(
                "FLIPKART_ADMIN_KEY_SHA256 must hold sha256 hex digests (64 hex characters, "
                "comma-separated), never the key itself"
            )
        hashes.append(item.encode("ascii"))
    return hashes


def key_matches(key: str, hashes: list[bytes]) -> bool:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest().encode("ascii")
    matched = False
    for expected in hashes:  # no early exit: every configured hash is compared
        matched |= hmac.compare_digest(digest, expected)
    return matched


CHALLENGE = {"WWW-Authenticate": "Bearer"}  # RFC 9110: a 401 names the scheme it wants


def check_admin(request: Request, settings: Settings) -> None:
    """401 without a bearer key (or with a wrong one); 403 when no key is configured at all."""
    hashes = configured_hashes(settings)
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        message = "This route needs an API key: `Authorization: Bearer <key>`."
        if not hashes:
            message += " " + HOW_TO_CONFIGURE
        raise ApiError(401, "missing_api_key", message, headers=CHALLENGE)
    if not hashes:
        raise ApiError(403, "admin_disabled", HOW_TO_CONFIGURE)
    if not key_matches(key, hashes):
        raise ApiError(401, "invalid_api_key", "The API key is not valid.", headers=CHALLENGE)
