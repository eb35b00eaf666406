"""One event's effects written into the unit: points and lots, badges, tiers, perks,
notifications, limit usage and refund clawbacks, with the webhook messages they emit.

``app.rules.state.reduce`` decides what an event earns and calls these in order; nothing
here does I/O.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.ledger.policy import PointsPolicy, proportional
from app.rewards.codes import new_claim_id, new_code
from app.rules.active import ActiveRuleset
from app.rules.engine import Effect, Outcome
from app.rules.limits import period_key
from app.rules.unit import CustomerState, Entry, Lot, Message, OrderState, Perk, UnitState, iso


@dataclass(frozen=True, slots=True)
class Judge:
    """What stays fixed for a unit: the ruleset that judges it, the points policy, and
    which webhook types anyone subscribes to (no message is built for others)."""

    ruleset: ActiveRuleset
    policy: PointsPolicy
    wanted: frozenset[str] = frozenset()


class EventStep:
    """One event's transition: the effects it writes, in the unit it writes them to."""

    def __init__(self, judge: Judge, unit: UnitState, state: CustomerState, event: Any) -> None:
        self.judge, self.unit, self.state, self.event = judge, unit, state, event
        self.effects: list[dict[str, Any]] = []

    def emit(self, type_: str, data: dict[str, Any], entry: Entry | None = None) -> None:
        if type_ in self.judge.wanted:
            self.unit.messages.append(Message(type_, data, entry))

    def _ids(self, rule_id: str | None) -> dict[str, Any]:
        return {"customer_id": self.state.id, "event_id": self.event.id, "rule_id": rule_id}

    def entry(self, kind: str, points: int, reason: str, rule_id: str | None) -> Entry:
        entry = Entry(
            customer_id=self.state.id,
            kind=kind,
            points=points,
            event_id=self.event.id,
            rule_id=rule_id,
            reason=reason[:500],
            created_at=self.unit.now,
            occurred_at=self.event.occurred_at,
        )
        self.unit.entries.append(entry)
        data = {**self._ids(rule_id), "entry_id": None, "points": points, "reference": None}
        self.emit(f"points.{_PAST[kind]}", data, entry)
        return entry

    def credit(self, points: int, reason: str, rule_id: str | None) -> None:
        available_at, expires_at = self.judge.policy.lot_dates(self.event)
        entry = self.entry("earn", points, reason, rule_id)
        lot = Lot(
            id=None,
            customer_id=self.state.id,
            event_id=self.event.id,
            order_id=getattr(self.event.data, "order_id", None),
            points=points,
            remaining=points,
            available_at=available_at,
            expires_at=expires_at,
            created_at=self.unit.now,
            entry=entry,
        )
        self.unit.lots.append(lot)
        self.state.lots.append(lot)
        self.state.points_earned += points
        now = self.unit.now
        if expires_at is not None and expires_at <= now:
            self.state.overdue += points  # a back-dated event's points, already past expiry
        elif available_at <= now:
            self.state.available += points
        else:
            self.state.pending += points

    def set_tier(self, tier: str, rule_id: str | None, rule_name: str | None) -> bool:
        previous = self.state.tier
        if previous == tier:
            return False
        self.state.tier, self.state.tier_changed_at = tier, self.unit.now
        self.emit("tier.changed", {**self._ids(rule_id), "tier": tier, "previous": previous})
        return True

    def grant_perk(self, effect: Effect) -> None:
        """Grant a perk, or extend it: a later expiry (or none) wins over an earlier one."""
        assert effect.perk is not None
        now, expires_at = self.unit.now, effect.perk_expires_at
        perk = self.state.perks.get(effect.perk)
        if perk is None:
            perk = Perk(self.state.id, effect.perk, now, expires_at, self.event.id, effect.rule_id)
            self.state.perks[effect.perk] = perk
        else:
            lapsed = perk.expires_at is not None and perk.expires_at <= now
            if lapsed:
                perk.granted_at = now
            if (
                lapsed
                or expires_at is None
                or (perk.expires_at is not None and expires_at > perk.expires_at)
            ):
                perk.expires_at = expires_at
            perk.event_id, perk.rule_id = self.event.id, effect.rule_id
        self.unit.perks[(self.state.id, effect.perk)] = perk
        self.emit(
            "perk.granted",
            {**self._ids(effect.rule_id), "perk": effect.perk, "expires_at": iso(expires_at)},
        )

    def _coupon_refusal(self, reward_id: str) -> str | None:
        reward = self.unit.rewards.get(reward_id)
        if reward is None:
            return "unknown-reward"
        document, now = reward.document, self.unit.now
        starts, ends = (
            datetime.fromisoformat(document[name]) if document.get(name) else None
            for name in ("active_from", "active_until")
        )
        if (starts is not None and now < starts) or (ends is not None and now >= ends):
            return "reward-inactive"
        if (reward.stock is not None and reward.stock <= 0) or (reward.pooled and not reward.codes):
            return "reward-out-of-stock"
        return None

    def issue_coupon(self, effect: Effect, out: dict[str, Any]) -> None:
        """A free claim of the reward and its coupon; ``out`` (the effect's answer) says
        which, or why none was issued."""
        assert effect.reward_id is not None
        refusal = self._coupon_refusal(effect.reward_id)
        if refusal is not None:
            out["coupon"], out["refused"] = None, refusal
            return
        reward, now, state = self.unit.rewards[effect.reward_id], self.unit.now, self.state
        code = reward.codes.pop(0) if reward.pooled else new_code()
        if reward.pooled:
            self.unit.codes_taken.append(code)
        if reward.stock is not None:
            reward.stock -= 1
            reward.dirty = True
        claim_id = new_claim_id()
        expires_at = now + timedelta(days=int(reward.document.get("coupon_validity_days", 30)))
        self.unit.claims.append(
            {
                "id": claim_id,
                "customer_id": state.id,
                "reward_id": reward.id,
                "reward_version": reward.current_version,
                "points": 0,
                "period_key": "lifetime",
                "entry_id": None,
                "event_id": self.event.id,
                "rule_id": effect.rule_id,
                "status": "active",
                "created_at": now,
            }
        )
        self.unit.coupons.append(
            {
                "code": code,
                "claim_id": claim_id,
                "reward_id": reward.id,
                "customer_id": state.id,
                "status": "active",
                "issued_at": now,
                "expires_at": expires_at,
            }
        )
        coupon = {"code": code, "claim_id": claim_id, "expires_at": iso(expires_at)}
        out["coupon"], out["refused"] = coupon, None
        self.emit(
            "reward.claimed",
            {
                **self._ids(effect.rule_id),
                "claim_id": claim_id,
                "reward_id": reward.id,
                "reward_version": reward.current_version,
                "points": 0,
                "code": code,
                "expires_at": iso(expires_at),
            },
        )

    def apply(self, effect: Effect, out: dict[str, Any] | None = None) -> int:
        """Write one rule effect (``out`` is its answer, for what only writing it tells);
        answers the points it credited."""
        action = effect.action
        if action in ("award_points", "multiply_points"):
            if effect.points and effect.points > 0:
                reason = f"{effect.rule_name} ({self.event.type.value} {self.event.id})"
                self.credit(effect.points, reason, effect.rule_id)
                return effect.points
        elif action == "award_badge" and effect.badge:
            if effect.badge not in self.state.badges:
                self.state.badges.add(effect.badge)
                self.unit.badges.append(
                    {
                        "customer_id": self.state.id,
                        "badge": effect.badge,
                        "awarded_at": self.unit.now,
                        "event_id": self.event.id,
                        "rule_id": effect.rule_id,
                    }
                )
                self.emit("badge.awarded", {**self._ids(effect.rule_id), "badge": effect.badge})
        elif action == "set_tier" and effect.tier:
            self.set_tier(effect.tier, effect.rule_id, effect.rule_name)
        elif action == "grant_perk" and effect.perk:
            self.grant_perk(effect)
        elif action == "issue_coupon" and effect.reward_id and out is not None:
            self.issue_coupon(effect, out)
        elif action == "notify":
            self.emit(
                "notification.requested",
                {
                    **self._ids(effect.rule_id),
                    "notification": effect.notification,
                    "template": effect.template,
                },
            )
        return 0

    def consume(self, outcome: Outcome) -> None:
        """Count the firings against their limits. The state was read under the customers'
        locks (and the budgets' rows), so what ``evaluate`` allowed is what is taken."""
        ruleset = self.judge.ruleset.compiled
        for rule_id in outcome.fired:
            limits = ruleset.rule(rule_id).limits
            if limits is None:
                continue
            if limits.per_customer is not None:
                key = period_key(limits.per_customer.period, self.event.occurred_at)
                counters = self.state.counters
                counters[(rule_id, key)] = counters.get((rule_id, key), 0) + 1
                self.unit.counters.add((rule_id, self.state.id, key))
            if limits.budget_points is not None:
                points = sum(e.points or 0 for e in outcome.effects if e.rule_id == rule_id)
                self.unit.budgets[rule_id] = self.unit.budgets.get(rule_id, 0) + points
                self.unit.budgets_used.add(rule_id)

    def refund(self, order: OrderState) -> None:
        data, state = self.event.data, self.state
        order.refunded_amount += data.amount
        order.dirty = True
        state.lifetime_spend -= data.amount
        # Cumulative, so that several partial refunds never take back more than was earned.
        due = proportional(order.points_earned, order.refunded_amount, order.amount)
        to_claw = due - order.points_reversed - order.points_shortfall
        reversed_, shortfall = self.claw_back(to_claw, order.id)
        order.points_reversed += reversed_
        order.points_shortfall += shortfall
        self.effects.append(
            effect_answer(
                None, None, "reverse_points", points=-reversed_, shortfall=shortfall or None
            )
        )

    def claw_back(self, points: int, order_id: str) -> tuple[int, int]:
        """Take back ``points`` for a refund: the order's own lots first, then other pending
        points, then available ones by earliest expiry. What the lots cannot cover is a debt
        (a negative lot) when negative balances are allowed, or else a shortfall."""
        if points <= 0:
            return 0, 0
        now, state = self.unit.now, self.state
        open_lots = [
            lot
            for lot in state.lots
            if lot.remaining > 0 and (lot.expires_at is None or lot.expires_at > now)
        ]
        open_lots.sort(
            key=lambda lot: (
                lot.order_id != order_id,
                lot.available_at <= now,
                lot.expires_at is None,
                lot.expires_at or now,
                lot.id if lot.id is not None else 2**63,
            )
        )
        taken = 0
        for lot in open_lots:
            if taken == points:
                break
            step = min(lot.remaining, points - taken)
            lot.remaining -= step
            lot.dirty = True
            taken += step
            if lot.available_at <= now:
                state.available -= step
            else:
                state.pending -= step
        missing = points - taken
        allow_negative = self.judge.policy.allow_negative
        debt = missing if allow_negative else 0
        total = taken + debt
        if total == 0:
            return 0, missing
        reason = f"refund of order {order_id}"
        if missing and not allow_negative:
            reason += f" ({missing} points already spent, not reclaimed)"
        entry = self.entry("reverse", -total, reason, None)
        state.points_reversed += total
        if debt:
            lot = Lot(
                id=None,
                customer_id=state.id,
                event_id=self.event.id,
                order_id=order_id,
                points=-debt,
                remaining=-debt,
                available_at=now,
                expires_at=None,
                created_at=now,
                entry=entry,
            )
            self.unit.lots.append(lot)
            state.lots.append(lot)
            state.available -= debt
        return total, missing - debt


_PAST = {"earn": "earned", "reverse": "reversed"}


def effect_answer(
    rule_id: str | None, rule_name: str | None, action: str, **values: Any
) -> dict[str, Any]:
    """An effect as ``EffectOut`` serialises it (every field, nulls included)."""
    return {
        "rule_id": rule_id,
        "rule_name": rule_name,
        "action": action,
        "points": values.get("points"),
        "badge": values.get("badge"),
        "tier": values.get("tier"),
        "perk": values.get("perk"),
        "perk_expires_at": iso(values.get("perk_expires_at")),
        "notification": values.get("notification"),
        "template": values.get("template"),
        "shortfall": values.get("shortfall"),
    }


def effect_out(effect: Effect) -> dict[str, Any]:
    if effect.action == "issue_coupon":
        # Only these effects carry the reward and coupon members: every other effect's
        # answer reads as it always did.
        return {
            **effect_answer(effect.rule_id, effect.rule_name, effect.action),
            "reward_id": effect.reward_id,
            "coupon": None,
            "refused": None,
        }
    return effect_answer(
        effect.rule_id,
        effect.rule_name,
        effect.action,
        points=effect.points,
        badge=effect.badge,
        tier=effect.tier,
        perk=effect.perk,
        perk_expires_at=effect.perk_expires_at,
        notification=effect.notification,
        template=effect.template,
    )
