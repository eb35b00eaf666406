"""Referral codes inside the pipeline: which events carry one, the referral event derived
for the referrer, and the guards that answer a code that records nothing. Pure.

A ``signup`` or ``purchase`` whose ``data.referral_code`` names another customer's code
records the referral once: the referrer's ``referral`` rules run on a derived ``referral``
event (its own id, stored in the same transaction), and the new customer's event carries
``event.referred``. A code that cannot record one never fails the event: the answer's
``referral`` says why.
"""

import hashlib
from typing import Any

from app.events.schemas import ReferralData, ReferralEvent
from app.events.types import EventType
from app.ledger.policy import PointsPolicy
from app.rules.limits import period_key
from app.rules.unit import UnitState

_CARRIERS = frozenset({EventType.signup, EventType.purchase})
_ID_LENGTH = 128
_SUFFIX = ":referral"


def code_of(event: Any) -> str | None:
    """The event's referral code, as codes are stored (upper case, no spaces)."""
    if event.type not in _CARRIERS:
        return None
    code = getattr(event.data, "referral_code", None)
    return code.strip().upper() if isinstance(code, str) else None


def derived_id(event_id: str) -> str:
    """The derived referral event's id: the source's id and a suffix, or a digest of the
    source's id when that would be too long. The same source always derives the same id."""
    if len(event_id) + len(_SUFFIX) <= _ID_LENGTH:
        return event_id + _SUFFIX
    return "referral-" + hashlib.sha256(event_id.encode()).hexdigest()


def derived_event(event: Any, referrer_id: str) -> ReferralEvent:
    return ReferralEvent(
        id=derived_id(event.id),
        type=EventType.referral,
        customer_id=referrer_id,
        occurred_at=event.occurred_at,
        channel=event.channel,
        attributes={},
        data=ReferralData(referred_customer_id=event.customer_id),
    )


def outcome(status: str, reason: str | None, **values: Any) -> dict[str, Any]:
    return {"status": status, "reason": reason, "referrer_id": None, "event_id": None, **values}


def guard(unit: UnitState, policy: PointsPolicy, event: Any, code: str) -> dict[str, Any] | str:
    """The referrer's id when the code records a referral, or the answer saying why not."""
    referrer = unit.referral_codes.get(code)
    if referrer is None:
        return outcome("ignored", "unknown-code")
    if referrer == event.customer_id:
        return outcome("ignored", "own-code")
    if event.customer_id in unit.referred:
        return outcome("ignored", "already-referred")
    if policy.referral_cap:
        period = policy.referral_cap_period
        key = period_key(period, event.occurred_at)
        made = sum(
            1 for at in unit.referral_times.get(referrer, ()) if period_key(period, at) == key
        )
        if made >= policy.referral_cap:
            return outcome("ignored", "referrer-cap-reached")
    return referrer
