"""customer profile, erasure marker, ledger entries' occurred_at, list indexes

Customers gain the profile fields the shop owns (display name, an opaque reference, the
marketing opt-in and leaderboard opt-out consent flags, birthday) and ``erased_at``, set on
the pseudonymous row an erasure leaves behind. Ledger entries gain ``occurred_at``, when
their source event happened, backfilled from the events (or, for entries without an
event, from ``created_at``). Two indexes serve the customer and event lists, newest first.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 21:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = app.models.base.UTCDateTime(timezone=True)
EPOCH = "'1970-01-01 00:00:00'"


def upgrade() -> None:
    # Plain ADD COLUMNs, not batch mode: on SQLite batch mode rebuilds the table, and
    # dropping the old customers or ledger_entries table fails its foreign keys (events,
    # lots, ...) once there are rows.
    op.add_column('customers', sa.Column('display_name', sa.String(length=200), nullable=True))
    op.add_column('customers', sa.Column('reference', sa.String(length=200), nullable=True))
    op.add_column('customers', sa.Column('marketing_opt_in', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('customers', sa.Column('leaderboard_opt_out', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('customers', sa.Column('birthday', sa.Date(), nullable=True))
    op.add_column('customers', sa.Column('profile_updated_at', TIMESTAMP, nullable=True))
    op.add_column('customers', sa.Column('erased_at', TIMESTAMP, nullable=True))
    op.create_index('ix_customers_created_at_id', 'customers', ['created_at', 'id'], unique=False)

    # NOT NULL from the start (SQLite cannot add the constraint later without a rebuild),
    # with a placeholder default that the backfill replaces at once; the application
    # always writes the value itself.
    op.add_column(
        'ledger_entries',
        sa.Column('occurred_at', TIMESTAMP, nullable=False, server_default=sa.text(EPOCH)),
    )
    # Both databases store the same text or timestamp in both tables, so a plain copy
    # keeps the values comparable.
    op.execute(
        'UPDATE ledger_entries SET occurred_at = COALESCE('
        '(SELECT events.occurred_at FROM events WHERE events.id = ledger_entries.event_id), '
        'ledger_entries.created_at)'
    )
    if op.get_context().dialect.name != 'sqlite':
        op.alter_column('ledger_entries', 'occurred_at', server_default=None)

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
    # Plain DROP COLUMNs for the same reason as above (SQLite 3.35 and later have them).
    with op.get_context().autocommit_block():
        op.drop_index('ix_events_occurred_at_id', table_name='events', postgresql_concurrently=True)
    op.drop_column('ledger_entries', 'occurred_at')
    op.drop_index('ix_customers_created_at_id', table_name='customers')
    for column in (
        'erased_at',
        'profile_updated_at',
        'birthday',
        'leaderboard_opt_out',
        'marketing_opt_in',
        'reference',
        'display_name',
    ):
        op.drop_column('customers', column)
