"""The Prometheus count of coupons used and given back at checkout, once committed."""

from prometheus_client import Counter

COUPON_REDEMPTIONS = Counter(
    "reinforce_coupon_redemptions_total",
    "Coupons used on an order at checkout (outcome used), or given back when the order was "
    "cancelled (outcome released); counted once committed.",
    ["outcome"],
)
