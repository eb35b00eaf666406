"""feedback follow-ups, ledger entries by occurred_at

Survey answers can be marked as followed up (``feedback_follow_ups``, one row per answer's
event). Ledger entries gain a covering index by ``occurred_at`` for the reports that read
the movements of a window.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feedback_follow_ups",
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("followed_up_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_feedback_follow_ups_event_id_events")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_feedback_follow_ups")),
    )
    op.create_index(
        "ix_ledger_entries_occurred_at_kind",
        "ledger_entries",
        ["occurred_at", "kind", "points", "rule_id", "customer_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_occurred_at_kind", table_name="ledger_entries")
    op.drop_table("feedback_follow_ups")
