"""Property-based fuzz of the OpenAPI schema (schemathesis), with every check of `--checks all`.

No input may produce a 5xx, every answer must be documented (status, content type, body
schema, headers), requests the schema allows must be accepted and those it forbids refused, an
undeclared method gets a 405 with `Allow`. `backend/schemathesis.toml` is the configuration of
both this test and `schemathesis run <url>/openapi.json --checks all` started from backend/:
it allows the 422 of refusals no schema can express on the routes that meet them, and this
test also checks that such a 422 is one of those refusals (`CONTENT_REFUSALS`).

Examples are bounded (fuzzing: `max_examples`; coverage: one pass of its deterministic cases)
so this stays fast. The schema is loaded at import time (schemathesis parametrizes at
collection), so the tiny model lives in a temporary folder removed at exit.
"""

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from conftest import PROD, make_settings
from flipkart_api import fetch
from flipkart_api.app import create_app
from flipkart_api.errors import ApiError
from flipkart_contract.testing import LISTING_ID, write_listing
from helpers import write_model, write_registry
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

CONFIG = SchemathesisConfig.from_path(str(Path(__file__).parents[1] / "schemathesis.toml"))
ROOT = Path(tempfile.mkdtemp(prefix="flipkart-fuzz-"))
atexit.register(shutil.rmtree, ROOT, ignore_errors=True)
write_model(ROOT, PROD, method="crop")
write_listing(ROOT, PROD)  # with a listing: text alone is answered too
write_registry(ROOT, PROD, [PROD], listing=LISTING_ID)
# One client sends every case: the rate limit is off so that each case reaches its handler.
APP = create_app(
    make_settings(
        ROOT, url_timeout_s=0.5, database_path=ROOT / "predictions.db", rate_limit_per_minute=0
    )
)
APP.state.catalog.load()  # the ASGI test transport does not run the lifespan

schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)

# The 422s that a request valid for the schema may get: what the bytes or the URL turn out to
# be, top_k over the model's number of classes, an architecture shared by several models, text
# that cleans to nothing without an image, titles or descriptions not one per image, a label
# the model does not have (explain).
CONTENT_REFUSALS = {
    "not_an_image",
    "corrupt_image",
    "empty_image",
    "unsupported_image_mode",
    "invalid_url",
    "url_unreachable",
    "url_forbidden",
    "url_timeout",
    "too_many_redirects",
    "invalid_top_k",
    "ambiguous_model",
    "empty_text",
    "text_count_mismatch",
    "unknown_label",
}


def refused_only_for_content(ctx, response, case) -> bool | None:
    """A schema-valid request answered 422 was refused for one of `CONTENT_REFUSALS`."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code != 422:
        return None
    code = response.json()["error"]["code"]
    assert code in CONTENT_REFUSALS, f"a schema-valid request was refused: {response.text}"
    return None


@pytest.fixture(autouse=True)
def no_network(monkeypatch) -> None:
    """Generated URLs (`https://<random>.com`) are never resolved nor fetched: no traffic."""

    async def unresolvable(host: str, port: int):
        raise ApiError(422, "url_unreachable", f"Cannot resolve host {host!r} (test).")

    monkeypatch.setattr(fetch, "resolve", unresolvable)


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_conforms_to_its_schema(case) -> None:
    case.call_and_validate(additional_checks=[refused_only_for_content])
