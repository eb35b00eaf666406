"""The typed answer of predictive CLTV: parameters, fit, P(alive) and the top customers."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.metrics.results import Result


class ModelParams(BaseModel):
    r: float = Field(description="BG/NBD: shape of the purchase-rate distribution.")
    alpha: float = Field(description="BG/NBD: its scale, in time units.")
    a: float = Field(description="BG/NBD: dropout Beta's a.")
    b: float = Field(description="BG/NBD: dropout Beta's b.")
    p: float = Field(description="Gamma-Gamma: shape of a transaction's value.")
    q: float = Field(description="Gamma-Gamma: shape of the customers' spend scale.")
    gamma: float = Field(description="Gamma-Gamma: its scale, in currency.")


class FitDetails(BaseModel):
    bgnbd_log_likelihood: float
    gamma_gamma_log_likelihood: float
    gamma_gamma_customers: int = Field(description="Repeat buyers the spend model was fit on.")


class Quantiles(BaseModel):
    p10: float
    p25: float
    p50: float
    p75: float
    p90: float


class AliveBin(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: float = Field(alias="from")
    to: float
    customers: int


class AliveDistribution(BaseModel):
    mean: float
    quantiles: Quantiles
    histogram: list[AliveBin] = Field(description="10 bins of P(alive) over [0, 1].")


class TopCustomer(BaseModel):
    customer_id: str
    predicted_clv: float
    p_alive: float
    expected_transactions: float
    frequency: int = Field(description="Repeat transactions (x).")
    recency: float = Field(description="Time of the last transaction after the first (t_x).")
    T: float = Field(description="Time from the first transaction to the end of the window.")
    monetary: float = Field(description="Mean value of the repeat transactions.")


class PredictiveCltvResult(Result):
    method: Literal["predictive"]
    time_unit: Literal["day", "week"]
    horizon_months: int = Field(description="Months of future purchases valued.")
    annual_discount_rate: float = Field(description="Discount rate per year (0.10 is 10%).")
    margin: float
    customers: int = Field(description="Customers in the fit (a purchase before `to`).")
    repeat_customers: int = Field(description="Customers with a repeat transaction.")
    fitted_at: datetime = Field(description="When the fit was computed.")
    cached: bool = Field(description="Whether the parameters came from the stored fit.")
    stored: bool = Field(
        description="Whether the fit is stored (`POST /v1/metrics/cltv/fits`): customers' "
        "profiles and the summary then show it. A GET never stores one."
    )
    params: ModelParams
    fit: FitDetails = Field(description="Log-likelihoods and the Gamma-Gamma sample size.")
    expected_transactions: float = Field(
        description="Expected transactions of all customers over the horizon."
    )
    total_clv: float = Field(description="Sum of the customers' predicted CLTV.")
    p_alive: AliveDistribution = Field(description="P(alive) over the customers.")
    top_customers: list[TopCustomer] = Field(description="Highest predicted CLTV first.")
