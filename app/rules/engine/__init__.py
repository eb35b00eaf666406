"""Compile rule documents into closures once, then score events with a pure function.

``evaluate`` depends only on its arguments, which is what makes dry runs, backtests and A/B
variants cheap: the database layer gathers the facts and limit usage, calls ``evaluate``, and
then consumes limits atomically (dropping an effect whose limit it lost in a race).

Guarantees: ``evaluate`` is deterministic and never raises for a validated ruleset. A rule that
fails at evaluation time (a value of the wrong type, a missing amount to award on) is skipped
and reported in ``Outcome.errors``; the other rules still run.
"""

from app.rules.engine.compile import CompiledRule, compile_rule
from app.rules.engine.conditions import compile_condition
from app.rules.engine.context import make_getter
from app.rules.engine.evaluate import evaluate
from app.rules.engine.outcome import Effect, Outcome, RuleError, RuleRuntimeError, SkippedRule
from app.rules.engine.ruleset import CompiledRuleset, compile_ruleset

__all__ = [
    "CompiledRule",
    "CompiledRuleset",
    "Effect",
    "Outcome",
    "RuleError",
    "RuleRuntimeError",
    "SkippedRule",
    "compile_condition",
    "compile_rule",
    "compile_ruleset",
    "evaluate",
    "make_getter",
]
