"""Feedback tokens: what binds a stored prediction to the client that received it.

The token of a prediction is HMAC-SHA256(secret, "prediction:" + id), hex. It is answered with
the prediction (`feedback_token`) and required, in the `X-Feedback-Token` header, to give
feedback on it or read it back; the admin key is the other way in. Nothing is stored per token:
the server recomputes it, and compares with `hmac.compare_digest`.
"""

import hashlib
import hmac
from dataclasses import dataclass

from flipkart_api.errors import ApiError

HEADER = "X-Feedback-Token"


def feedback_token(secret: bytes, prediction_id: str) -> str:
    message = b"prediction:" + prediction_id.encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def token_matches(secret: bytes, prediction_id: str, token: str) -> bool:
    expected = feedback_token(secret, prediction_id).encode("ascii")
    return hmac.compare_digest(expected, token.strip().lower().encode("utf-8"))


@dataclass(frozen=True)
class PredictionCredentials:
    """What a request shows to reach one stored prediction (`flipkart_api.deps` reads them)."""

    token: str | None  # the X-Feedback-Token header
    admin: bool  # a valid admin key
    admin_error: ApiError | None  # why an `Authorization` header that was sent is refused
