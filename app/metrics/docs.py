"""The metric definitions, as the OpenAPI document states them (README.md says the same)."""

ENDPOINT = """
One loyalty metric over the window `[from, to)` (UTC), answered as
`{metric, value, from, to, reason?, ...details}`. `value` is null with a `reason` when the
metric is undefined for the window (no answers, no customers); it is never NaN. `from` at
or after `to` is a `422 invalid-window`; both lie within the years 1970 to 9000. Default
window: the 90 days before now. A date as `to` includes that whole day.

**Active.** A customer is *active at an instant* when they have a `purchase` or `renewal`
event in the `activity_days` (default 90) days before it; *active in a window* when they
have one inside the window.

- `nps`, -100..100: % promoters (9-10) minus % detractors (0-6) among the customers who
  answered an `nps` survey in the window. Only each customer's **latest** answer in the
  window counts. Details: `responses`, `promoters`, `passives` (7-8), `detractors`.
- `csat`, 0..100 (%): share of the `csat` answers in the window scoring 4 or 5 on 1-5;
  every answer counts. Details: `responses`, `satisfied`, `mean_score`.
- `retention`, 0..1: CRR = (E - N) / S. S: customers active at `from`; E: customers active
  at `to`; N: customers active at `to` who were not active at `from` (first-time customers
  plus reactivated ones), so E - N is the customers active at both instants.
- `churn`, 0..1: 1 - CRR, with the same details.
- `repeat-purchase-rate`, 0..1: customers with 2 or more purchases in the window over
  customers with 1 or more.
- `referral-rate`, 0..1: customers active in the window who referred at least one *new*
  customer in the window (one with no purchase before the referral), over customers active
  in the window. Details: `referred_customers`, and `referred_purchasers`, those of them
  who then purchased (before `to`).
- `cltv` with `method=historical`, currency per customer: average order value (net of
  refunds) x purchase frequency (orders per purchasing customer, per year) x expected
  lifespan (years) x `margin`. The lifespan is `lifespan_years`, or else
  1 / (1 - annual retention) with annual retention = CRR ^ (365.25 / window days).
- `cltv` with `method=predictive`, mean predicted CLTV per customer (currency): BG/NBD
  (Fader, Hardie & Lee 2005) for transactions and Gamma-Gamma for spend, fitted by maximum
  likelihood on every purchase before `to` (when `from` is given, only customers whose
  first purchase is on or after it). Several purchases on one UTC day are one transaction.
  `time_unit` day or week; CLTV over `horizon_months` (12), discounted monthly at the annual
  `discount_rate` (0.10), times `margin`. Answers `params` (r, alpha, a, b, p, q, gamma),
  `expected_transactions`, `total_clv`, the `p_alive` distribution and `top_customers`.
  A GET never writes: it reads the window's fit stored by `POST /v1/metrics/cltv/fits`
  (one per `from`, `to` and `time_unit`; `cached: true`, recomputing only the predictions
  for other settings), or, without one, answers a fit computed for this answer alone
  (`cached: false`, `stored: false`).
  Too little data: `422 insufficient-data` with `what`, `needed` and `got`; a fit that does
  not identify the model: `422 fit-failed`.
- `cohorts`, 0..1: acquisition cohorts by **first purchase** in the window (`period` week
  or month); `share_active[k]` is the share of a cohort with a purchase k periods after its
  own (period 0 is 1). `value`: the share active in period 1, over the cohorts observed
  that long. A last period cut short by `to` (`partial_period`) counts the purchases so
  far and is left out of `value`.

**Series and breakdowns.** `interval=day|week|month` adds `series`: the metric computed on
each UTC calendar period of the window (ISO weeks start on Monday; the first and last may
be partial). `by=tier` (the customer's current tier) adds `groups`. `by=channel` (the
channel of the answer event) is only for `nps` and `csat`: the other metrics are about
customers, whose events span channels (`422 unsupported-breakdown`). `cohorts` and
predictive `cltv` take neither; `interval` and `by` cannot be combined.
"""
