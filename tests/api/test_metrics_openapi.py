"""The metrics routes in the OpenAPI document: valid 3.1, readable operationIds, and
discriminator mappings that are references."""

from typing import Any

import pytest
from fastapi import FastAPI


def _mappings(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node["discriminator"]["mapping"]] if "discriminator" in node else []
        return found + [m for value in node.values() for m in _mappings(value)]
    if isinstance(node, list):
        return [m for value in node for m in _mappings(value)]
    return []


def test_the_metric_responses_validate_as_openapi_3_1(app: FastAPI) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    document = app.openapi()
    validator.validate(document)
    response = document["paths"]["/v1/metrics/{name}"]["get"]["responses"]["200"]
    mapping = response["content"]["application/json"]["schema"]["discriminator"]["mapping"]
    assert mapping["cltv"] == "#/components/schemas/CltvOut"
    for found in _mappings(document):
        assert all(isinstance(ref, str) and ref.startswith("#/") for ref in found.values())


def test_the_metric_routes_have_explicit_operation_ids(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    assert paths["/v1/metrics"]["get"]["operationId"] == "get_metrics_summary"
    assert paths["/v1/metrics/{name}"]["get"]["operationId"] == "get_metric"
    assert paths["/v1/metrics/cltv/fits"]["post"]["operationId"] == "create_cltv_fit"
    window = {p["name"]: p for p in paths["/v1/metrics/{name}"]["get"]["parameters"]}
    for name in ("from", "to"):
        assert "1970 to 9000" in window[name]["description"]
    assert "before `to`" in window["from"]["description"]
