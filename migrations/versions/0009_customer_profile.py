"""customer profile, erasure marker, ledger entries' occurred_at, list indexes

Customers gain the profile fields the shop owns (display name, an opaque reference, the
marketing opt-in and leaderboard opt-out consent flags, birthday) and ``erased_at``, set on
the pseudonymous row an erasure leaves behind. Ledger entries gain ``occurred_at``, when
their source event happened, backfilled from the events (or, for entries without an
event, from ``created_at``). Two indexes serve the customer and event lists, newest first.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-01 21:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = '0009'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = app.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('display_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('reference', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('marketing_opt_in', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('leaderboard_opt_out', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('birthday', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('profile_updated_at', TIMESTAMP, nullable=True))
        batch_op.add_column(sa.Column('erased_at', TIMESTAMP, nullable=True))
        batch_op.create_index('ix_customers_created_at_id', ['created_at', 'id'], unique=False)

    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('occurred_at', TIMESTAMP, nullable=True))
    # Both databases store the same text or timestamp in both tables, so a plain copy
    # keeps the values comparable.
    op.execute(
        'UPDATE ledger_entries SET occurred_at = COALESCE('
        '(SELECT events.occurred_at FROM events WHERE events.id = ledger_entries.event_id), '
        'ledger_entries.created_at)'
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.alter_column('occurred_at', existing_type=TIMESTAMP, nullable=False)

    # As in 0007: built CONCURRENTLY on PostgreSQL, so that ingest is not blocked while it
    # builds on a large events table; SQLite ignores both.
    with op.get_context().autocommit_block():
        op.create_index(
            'ix_events_occurred_at_id',
            'events',
            ['occurred_at', 'id'],
            unique=False,
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index('ix_events_occurred_at_id', table_name='events', postgresql_concurrently=True)

    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_column('occurred_at')

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_created_at_id')
        batch_op.drop_column('erased_at')
        batch_op.drop_column('profile_updated_at')
        batch_op.drop_column('birthday')
        batch_op.drop_column('leaderboard_opt_out')
        batch_op.drop_column('marketing_opt_in')
        batch_op.drop_column('reference')
        batch_op.drop_column('display_name')
