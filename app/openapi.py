"""The OpenAPI document: operation ids, common problems, and the shape generators accept.

Integrators generate clients from this document, so each operation's id becomes a function
name in their code: the ids are part of the contract and are fixed here, by method and path,
rather than derived from Python function names that may be renamed.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.errors import problem_responses, problem_schemas

OPERATION_IDS: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "get_health",
    ("GET", "/readyz"): "get_readiness",
    ("GET", "/metrics"): "get_prometheus_metrics",
    ("GET", "/v1/api-keys"): "list_api_keys",
    ("POST", "/v1/api-keys"): "create_api_key",
    ("DELETE", "/v1/api-keys/{key_id}"): "revoke_api_key",
    ("POST", "/v1/events"): "create_event",
    ("POST", "/v1/events/batch"): "create_events_batch",
    ("GET", "/v1/customers/{customer_id}"): "get_customer",
    ("GET", "/v1/customers/{customer_id}/ledger"): "list_ledger_entries",
    ("POST", "/v1/customers/{customer_id}/redemptions"): "redeem_points",
    ("POST", "/v1/customers/{customer_id}/adjustments"): "adjust_points",
    ("POST", "/v1/adjustments/bulk"): "award_points_in_bulk",
    ("GET", "/v1/rules/facts"): "list_facts",
    ("GET", "/v1/rules/tiers"): "get_tiers",
    ("PUT", "/v1/rules/tiers"): "replace_tiers",
    ("GET", "/v1/rules/versions/{version}"): "get_ruleset_version",
    ("POST", "/v1/rules/backtest"): "backtest_rules",
    ("POST", "/v1/rules"): "create_rule",
    ("GET", "/v1/rules"): "list_rules",
    ("GET", "/v1/rules/{rule_id}"): "get_rule",
    ("PUT", "/v1/rules/{rule_id}"): "replace_rule",
    ("DELETE", "/v1/rules/{rule_id}"): "delete_rule",
    ("GET", "/v1/webhooks"): "list_webhooks",
    ("POST", "/v1/webhooks"): "create_webhook",
    ("GET", "/v1/webhooks/{webhook_id}"): "get_webhook",
    ("PATCH", "/v1/webhooks/{webhook_id}"): "update_webhook",
    ("DELETE", "/v1/webhooks/{webhook_id}"): "delete_webhook",
    ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"): "rotate_webhook_secret",
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): "list_webhook_deliveries",
    ("GET", "/v1/webhooks/{webhook_id}/messages"): "list_webhook_messages",
    (
        "POST",
        "/v1/webhooks/{webhook_id}/deliveries/{message_id}/retry",
    ): "retry_webhook_delivery",
    ("POST", "/v1/customers/{customer_id}/tokens"): "mint_shopper_token",
    ("GET", "/.well-known/jwks.json"): "get_jwks",
    ("GET", "/v1/me"): "get_me",
    ("GET", "/v1/me/ledger"): "list_my_ledger_entries",
    ("POST", "/v1/me/redemptions"): "redeem_my_points",
    ("GET", "/v1/metrics"): "get_metrics_summary",
    ("GET", "/v1/metrics/{name}"): "get_metric",
    ("GET", "/v1/metrics/liability"): "get_liability",
    ("GET", "/v1/metrics/rewards"): "get_rewards_metric",
    ("POST", "/v1/metrics/cltv/fits"): "create_cltv_fit",
    ("GET", "/v1/events"): "list_events",
    ("GET", "/v1/events/{event_id}"): "get_event",
    ("GET", "/v1/customers"): "list_customers",
    ("PATCH", "/v1/customers/{customer_id}"): "update_customer",
    ("DELETE", "/v1/customers/{customer_id}"): "erase_customer",
    ("GET", "/v1/customers/{customer_id}/export"): "export_customer",
    ("POST", "/v1/rewards"): "create_reward",
    ("GET", "/v1/rewards"): "list_rewards",
    ("GET", "/v1/rewards/{reward_id}"): "get_reward",
    ("PATCH", "/v1/rewards/{reward_id}"): "update_reward",
    ("DELETE", "/v1/rewards/{reward_id}"): "delete_reward",
    ("POST", "/v1/rewards/{reward_id}/codes"): "import_reward_codes",
    ("POST", "/v1/customers/{customer_id}/claims"): "claim_reward",
    ("POST", "/v1/claims/{claim_id}/void"): "void_claim",
    ("GET", "/v1/customers/{customer_id}/coupons"): "list_customer_coupons",
    ("GET", "/v1/customers/{customer_id}/referral-code"): "get_referral_code",
    ("GET", "/v1/coupons/{code}"): "get_coupon",
    ("POST", "/v1/coupons/{code}/redemptions"): "redeem_coupon",
    ("DELETE", "/v1/coupons/{code}/redemptions/{order_id}"): "release_coupon",
    ("GET", "/v1/me/rewards"): "list_my_rewards",
    ("POST", "/v1/me/claims"): "claim_my_reward",
    ("GET", "/v1/me/coupons"): "list_my_coupons",
    ("GET", "/v1/me/referral-code"): "get_my_referral_code",
    ("POST", "/v1/segments"): "create_segment",
    ("GET", "/v1/segments"): "list_segments",
    ("GET", "/v1/segments/{segment_id}"): "get_segment",
    ("PATCH", "/v1/segments/{segment_id}"): "update_segment",
    ("DELETE", "/v1/segments/{segment_id}"): "delete_segment",
    ("GET", "/v1/segments/{segment_id}/customers"): "list_segment_customers",
    ("POST", "/v1/experiments"): "create_experiment",
    ("GET", "/v1/experiments"): "list_experiments",
    ("GET", "/v1/experiments/{experiment_id}"): "get_experiment",
    ("PATCH", "/v1/experiments/{experiment_id}"): "update_experiment",
    ("POST", "/v1/experiments/{experiment_id}/start"): "start_experiment",
    ("POST", "/v1/experiments/{experiment_id}/stop"): "stop_experiment",
    (
        "GET",
        "/v1/experiments/{experiment_id}/assignments/{customer_id}",
    ): "get_experiment_assignment",
    ("GET", "/v1/experiments/{experiment_id}/results"): "get_experiment_results",
    ("POST", "/v1/leaderboards"): "create_leaderboard",
    ("GET", "/v1/leaderboards"): "list_leaderboards",
    ("GET", "/v1/leaderboards/{leaderboard_id}"): "get_leaderboard",
    ("PATCH", "/v1/leaderboards/{leaderboard_id}"): "update_leaderboard",
    ("DELETE", "/v1/leaderboards/{leaderboard_id}"): "delete_leaderboard",
    ("GET", "/v1/leaderboards/{leaderboard_id}/standings"): "get_leaderboard_standings",
    (
        "GET",
        "/v1/leaderboards/{leaderboard_id}/standings/{customer_id}",
    ): "get_customer_standing",
    ("GET", "/v1/me/leaderboards/{leaderboard_id}"): "get_my_standing",
    ("POST", "/v1/challenges"): "create_challenge",
    ("GET", "/v1/challenges"): "list_challenges",
    ("GET", "/v1/challenges/{challenge_id}"): "get_challenge",
    ("PATCH", "/v1/challenges/{challenge_id}"): "update_challenge",
    ("DELETE", "/v1/challenges/{challenge_id}"): "delete_challenge",
    ("GET", "/v1/customers/{customer_id}/challenges"): "list_customer_challenges",
    ("GET", "/v1/me/challenges"): "list_my_challenges",
    ("GET", "/v1/rules/streaks"): "list_streaks",
    ("PUT", "/v1/rules/streaks/{streak_id}"): "put_streak",
    ("GET", "/v1/rules/streaks/{streak_id}"): "get_streak",
    ("DELETE", "/v1/rules/streaks/{streak_id}"): "delete_streak",
    ("GET", "/v1/reports/events-per-day"): "get_events_per_day",
    ("GET", "/v1/reports/points-per-week"): "get_points_per_week",
    ("GET", "/v1/reports/tiers"): "get_tier_distribution",
    ("GET", "/v1/reports/rules"): "get_rule_activity",
    ("GET", "/v1/reports/cltv-distribution"): "get_cltv_distribution",
    ("GET", "/v1/reports/at-risk"): "get_customers_at_risk",
    ("GET", "/v1/reports/cltv-calibration"): "get_cltv_calibration",
    ("GET", "/v1/feedback/detractors"): "list_detractors",
    ("PUT", "/v1/feedback/{event_id}/follow-up"): "follow_up_feedback",
    ("DELETE", "/v1/feedback/{event_id}/follow-up"): "clear_feedback_follow_up",
}


def operation_id(route: APIRoute) -> str:
    """The route's fixed id; a route not listed yet falls back to its function's name,
    which is readable too (tests/test_openapi.py insists every route be listed)."""
    for method in sorted(route.methods or ()):
        known = OPERATION_IDS.get((method, route.path))
        if known:
            return known
    return route.name


def _declare_common_problems(schema: dict[str, Any]) -> None:
    """Problems any route of a kind can answer, declared here once so that no route
    (today's or tomorrow's) forgets: 429 and 503 (database unavailable: authenticating
    alone reads it) for every authenticated operation; for every one with a body, 413
    (too large) and 400 (not decodable as JSON text at all); and for every operation the
    500 of the last line of defence, which still answers a problem document."""
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            if operation.get("security"):
                responses.setdefault("429", problem_responses(429)[429])
                responses.setdefault("503", problem_responses(503)[503])
            if "requestBody" in operation:
                responses.setdefault("413", problem_responses(413)[413])
                responses.setdefault("400", problem_responses(400)[400])
            responses.setdefault("500", problem_responses(500)[500])


def _hoist_inline_mappings(node: Any, components: dict[str, Any]) -> None:
    """OpenAPI requires a discriminator mapping's values to be references. pydantic writes
    a nested tagged union inline instead; such a value becomes a component of its own."""
    if isinstance(node, list):
        for child in node:
            _hoist_inline_mappings(child, components)
        return
    if not isinstance(node, dict):
        return
    mapping = node.get("discriminator", {}).get("mapping", {})
    for tag, target in list(mapping.items()):
        if isinstance(target, dict):
            name = "".join(part.capitalize() for part in str(tag).replace("_", "-").split("-"))
            name = f"{name}Union"
            components.setdefault(name, target)
            reference = f"#/components/schemas/{name}"
            mapping[tag] = reference
            node["oneOf"] = [
                {"$ref": reference} if option == target else option
                for option in node.get("oneOf", [])
            ]
    for child in node.values():
        _hoist_inline_mappings(child, components)


def build_document(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        separate_input_output_schemas=app.separate_input_output_schemas,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(problem_schemas())
    _declare_common_problems(schema)
    _hoist_inline_mappings([schema["paths"], list(components.values())], components)
    return schema
