import json
import re
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from openapi_spec_validator import validate

from app.openapi import OPERATION_IDS, _hoist_inline_mappings

COMMITTED = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app(app: FastAPI) -> None:
    committed = json.loads(COMMITTED.read_text())
    assert committed == app.openapi(), "openapi/openapi.json is stale: run `make openapi`"


def test_every_operation_declares_its_problems(app: FastAPI) -> None:
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            if path in {"/healthz", "/readyz", "/.well-known/jwks.json"}:
                continue
            problems = {
                status
                for status, response in operation["responses"].items()
                if "application/problem+json" in response.get("content", {})
            }
            # 503: authenticating alone reads the database, which may be unavailable.
            assert {"401", "403", "503"} <= problems, f"{method} {path} declares {problems}"
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in problems, f"{method} {path} can fail validation"


def test_the_document_is_valid_openapi() -> None:
    validate(json.loads(COMMITTED.read_text()))


def test_every_operation_has_its_fixed_id(app: FastAPI) -> None:
    # Generated clients name their functions after these ids: a route left out would get
    # its Python function's name, which a refactoring may change under integrators' feet.
    listed = {
        (method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item
    }
    assert len(listed) > 30
    assert listed <= set(OPERATION_IDS), listed - set(OPERATION_IDS)
    ids = [
        operation["operationId"]
        for item in app.openapi()["paths"].values()
        for operation in item.values()
    ]
    assert sorted(ids) == sorted(set(ids))
    assert app.openapi()["paths"]["/v1/events"]["post"]["operationId"] == "create_event"


def test_one_schema_per_model_and_distinct_enum_names(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    assert not [name for name in schemas if name.endswith(("-Input", "-Output"))]
    assert schemas["WebhookEventType"]["enum"][0] == "points.earned"
    assert "purchase" in schemas["EventType"]["enum"]


async def test_docs_pages_load_their_assets_from_the_service(client: httpx.AsyncClient) -> None:
    for page, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = (await client.get(page)).text
        sources = re.findall(r'src="([^"]+)"', html)
        assert sources, html
        assert all(source.startswith("/") for source in sources), sources
        (script,) = [source for source in sources if source.endswith(asset)]
        loaded = await client.get(script)
        assert loaded.status_code == 200
        assert len(loaded.content) > 100_000


def test_constraints_the_api_enforces_are_stated(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    no_nul = "^[^\\x00]*$"
    assert schemas["ReviewData"]["properties"]["text"]["anyOf"][0]["pattern"] == no_nul
    assert schemas["AdjustmentIn"]["properties"]["points"]["not"] == {"const": 0}
    occurred_at = schemas["PurchaseEvent"]["properties"]["occurred_at"]
    assert occurred_at["format"] == "date-time"
    assert occurred_at["pattern"].startswith("^(19[7-9]")
    number, text = schemas["PurchaseData"]["properties"]["amount"]["anyOf"]
    assert number["maximum"] == 9999999999.9999
    assert "pattern" in text
    assert "16 levels" in schemas["PurchaseEvent"]["properties"]["attributes"]["description"]
    assert "422" in schemas["ReferralData"]["properties"]["referred_customer_id"]["description"]
    assert "after 'from'" in schemas["BacktestIn"]["properties"]["to"]["description"]
    assert "strictly increasing" in schemas["TierLadder"]["properties"]["tiers"]["description"]
    assert schemas["AwardPointsAction"]["properties"]["points"]["anyOf"][0]["maximum"] == 10**9
    (cursor,) = [
        p
        for p in app.openapi()["paths"]["/v1/customers/{customer_id}/ledger"]["get"]["parameters"]
        if p["name"] == "cursor"
    ]
    assert "422" in cursor["description"]
    assert cursor["schema"]["anyOf"][0]["pattern"]


def test_a_nested_union_in_a_discriminator_mapping_becomes_a_component() -> None:
    inner = {
        "oneOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}],
        "discriminator": {"propertyName": "method"},
    }
    outer = {
        "oneOf": [{"$ref": "#/components/schemas/C"}, inner],
        "discriminator": {
            "propertyName": "metric",
            "mapping": {"c": "#/components/schemas/C", "two-kinds": inner},
        },
    }
    components: dict[str, Any] = {}
    _hoist_inline_mappings({"paths": outer}, components)
    assert components == {"TwoKindsUnion": inner}
    assert outer["discriminator"]["mapping"]["two-kinds"] == "#/components/schemas/TwoKindsUnion"
    assert outer["oneOf"][1] == {"$ref": "#/components/schemas/TwoKindsUnion"}
