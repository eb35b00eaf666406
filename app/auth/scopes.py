from enum import StrEnum


class Scope(StrEnum):
    events_write = "events:write"
    customers_read = "customers:read"
    customers_write = "customers:write"
    rules_write = "rules:write"
    metrics_read = "metrics:read"
    webhooks_write = "webhooks:write"
    rewards_write = "rewards:write"
    coupons_redeem = "coupons:redeem"
    admin = "admin"
