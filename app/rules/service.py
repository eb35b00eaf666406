"""Which ruleset judges an event."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.rules.engine import CompiledRuleset, compile_ruleset
from app.rules.schemas import RuleDocument

# Until a shop stores rules of its own, purchases earn one point per whole currency unit
# and nothing else earns anything. Version 0 marks events judged by this default.
DEFAULT_RULESET: CompiledRuleset = compile_ruleset(
    0,
    [
        (
            "default-points-per-unit",
            RuleDocument.model_validate(
                {
                    "name": "1 point per currency unit",
                    "description": "The default until rules are stored.",
                    "types": ["purchase"],
                    "actions": [{"type": "award_points", "per_unit": 1}],
                }
            ),
        )
    ],
)


async def active_ruleset(session: AsyncSession) -> CompiledRuleset:
    return DEFAULT_RULESET
