"""each customer's activity in time order, for the metrics

A partial index over purchases and renewals, by customer and time: retention, churn,
repeat purchases and referrals read every customer's activity in one ordered pass
instead of sorting the window's events by customer.

On PostgreSQL the index is built CONCURRENTLY (outside the migration's transaction), so
that ingest is not blocked while it builds on a large events table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 04:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 'ix_events_activity_customer_id_occurred_at'
COLUMNS = ['customer_id', 'occurred_at', 'type']
WHERE = sa.text("type IN ('purchase', 'renewal')")


def upgrade() -> None:
    # CONCURRENTLY cannot run inside a transaction; SQLite ignores both.
    with op.get_context().autocommit_block():
        op.create_index(
            NAME,
            'events',
            COLUMNS,
            unique=False,
            sqlite_where=WHERE,
            postgresql_where=WHERE,
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(NAME, table_name='events', postgresql_concurrently=True)
