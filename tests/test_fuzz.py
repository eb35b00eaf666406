"""Schemathesis against the app and the committed OpenAPI document.

A bounded number of generated requests per operation, with an admin key: no 5xx, every
status code declared, every response (problems included) shaped as declared.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from tests.conftest import make_settings

COMMITTED = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"
ADMIN_KEY = "rk_fuzz_" + "k" * 40
CUSTOMER = "alice"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def fuzzed_app(database_url: str) -> Iterator[FastAPI]:
    app = create_app(
        make_settings(
            database_url,
            bootstrap_api_key=ADMIN_KEY,
            shopper_redemptions=True,
            rate_limit="",  # the fuzzer's burst is not what this test is about
        )
    )
    yield app
    # Schemathesis started the app's lifespan on its own event loop: stop it before
    # the test database goes.
    asgi.shutdown_lifespans()


SCHEMA = schemathesis.openapi.from_path(COMMITTED)
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}


def _seed(app: FastAPI) -> dict[str, str]:
    """A customer with points, so that generated requests also reach the success paths;
    answers the headers for /v1/me: a shopper token for that customer."""
    with asgi.get_client(app) as client:
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        awards = {
            "reason": "seed",
            "awards": [{"customer_id": CUSTOMER, "points": 500}],
            "create_customers": True,
        }
        assert client.post("/v1/adjustments/bulk", json=awards, headers=admin).status_code == 201
        minted = client.post(f"/v1/customers/{CUSTOMER}/tokens", headers=admin)
        assert minted.status_code == 201
        return {"Authorization": f"Bearer {minted.json()['token']}"}


# Negative data needs something to break: parameters or a body.
CASES = [
    (label, mode)
    for label, operation in sorted(OPERATIONS.items())
    for mode in GenerationMode
    if mode is GenerationMode.POSITIVE
    or operation.definition.raw.get("parameters")
    or operation.definition.raw.get("requestBody")
]


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_api_conforms_to_its_schema(fuzzed_app: FastAPI, label: str, mode: GenerationMode) -> None:
    SCHEMA.app = fuzzed_app
    operation = OPERATIONS[label]
    shopper = _seed(fuzzed_app)
    headers = (
        shopper
        if label.split()[1].startswith("/v1/me")
        else {"Authorization": f"Bearer {ADMIN_KEY}"}
    )
    strategy = operation.as_strategy(generation_mode=mode)
    if "{customer_id}" in label:
        known = operation.as_strategy(
            generation_mode=mode, path_parameters={"customer_id": CUSTOMER}
        )
        strategy = st.one_of(strategy, known)

    @given(case=strategy)
    @settings(
        max_examples=30,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS, app=fuzzed_app)

    run()
