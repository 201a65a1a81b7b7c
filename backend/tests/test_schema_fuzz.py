"""Property-based fuzz of the OpenAPI schema (schemathesis): no input may produce a 5xx.

Responses must also match the documented schemas. Examples are bounded so this stays fast.
The schema is loaded at import time (schemathesis parametrizes at collection), so the tiny
model lives in a temporary folder removed at exit.
"""

import atexit
import shutil
import tempfile
from pathlib import Path

import schemathesis
from conftest import PROD, make_settings
from flipkart_api.app import create_app
from helpers import write_model, write_registry
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

ROOT = Path(tempfile.mkdtemp(prefix="flipkart-fuzz-"))
atexit.register(shutil.rmtree, ROOT, ignore_errors=True)
write_model(ROOT, PROD, method="crop")
write_registry(ROOT, PROD, [PROD])
# One client sends every case: the rate limit is off so that each case reaches its handler.
APP = create_app(
    make_settings(
        ROOT, url_timeout_s=0.5, database_path=ROOT / "predictions.db", rate_limit_per_minute=0
    )
)
APP.state.catalog.load()  # the ASGI test transport does not run the lifespan

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_input_makes_a_server_error(case) -> None:
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
