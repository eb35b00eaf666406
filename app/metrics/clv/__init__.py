"""Predictive customer lifetime value: BG/NBD purchase counts and Gamma-Gamma spend.

Models:

* BG/NBD - Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative
  to the Pareto/NBD Model", Marketing Science 24(2). While alive a customer buys as a Poisson
  process with rate lambda ~ Gamma(r, alpha); after every transaction they drop out with
  probability p ~ Beta(a, b).
* Gamma-Gamma - Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer
  Base Analysis", Journal of Marketing Research 42(4) (the model of lifetimes'
  ``GammaGammaFitter``; its ``v`` is ``gamma`` here). Transaction values are Gamma(p, nu) with
  nu ~ Gamma(q, gamma) across customers, independent of the purchase process.

Pipeline: ``summarize`` (rows of a per-customer SQL aggregate) -> ``fit_bgnbd`` and
``fit_gamma_gamma`` -> ``expected_transactions`` / ``probability_alive`` /
``expected_average_spend`` / ``customer_lifetime_value``, or ``predict`` for all of them at
once. Nothing here returns NaN or inf: bad input raises ``ValueError``, too little data
raises ``InsufficientData``, and a fit that cannot be trusted raises ``FitFailed``.

Minimum data (module constants):

* BG/NBD needs ``MIN_CUSTOMERS`` (10) customers, of whom ``MIN_REPEAT_CUSTOMERS`` (5) made at
  least one repeat transaction: without repeat buyers the purchase rate and the dropout
  process are not identified (with all x == 0 the likelihood keeps rising as lambda -> 0).
* Gamma-Gamma needs ``MIN_SPEND_CUSTOMERS`` (5) customers with x > 0 and a positive mean
  repeat spend; it is fitted on those customers only, as in the paper.

Even above these minimums a small sample can send a maximum-likelihood estimate to the edge of
the parameter space (for example a homogeneous population, where a and b grow without bound);
such a fit raises ``FitFailed`` rather than returning a meaningless boundary value.
"""

from app.metrics.clv.bgnbd import (
    BGNBDFit,
    BGNBDParams,
    expected_transactions,
    fit_bgnbd,
    probability_alive,
)
from app.metrics.clv.gamma_gamma import (
    GammaGammaFit,
    GammaGammaParams,
    expected_average_spend,
    fit_gamma_gamma,
)
from app.metrics.clv.lifetime_value import (
    CustomerPredictions,
    customer_lifetime_value,
    monthly_discount_rate,
    predict,
)
from app.metrics.clv.summary import CustomerSummary, summarize
from app.metrics.clv.utils import (
    DAYS_PER_MONTH,
    DAYS_PER_UNIT,
    MIN_CUSTOMERS,
    MIN_REPEAT_CUSTOMERS,
    MIN_SPEND_CUSTOMERS,
    ClvError,
    FitFailed,
    InsufficientData,
    PredictionFailed,
    TimeUnit,
)

__all__ = [
    "DAYS_PER_MONTH",
    "DAYS_PER_UNIT",
    "MIN_CUSTOMERS",
    "MIN_REPEAT_CUSTOMERS",
    "MIN_SPEND_CUSTOMERS",
    "BGNBDFit",
    "BGNBDParams",
    "ClvError",
    "CustomerPredictions",
    "CustomerSummary",
    "FitFailed",
    "GammaGammaFit",
    "GammaGammaParams",
    "InsufficientData",
    "PredictionFailed",
    "TimeUnit",
    "customer_lifetime_value",
    "expected_average_spend",
    "expected_transactions",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "monthly_discount_rate",
    "predict",
    "probability_alive",
    "summarize",
]
