"""events, customers and the points ledger

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 14:46:50.783529
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('customers',
    sa.Column('id', sa.String(length=128), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('first_seen_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tier', sa.String(length=50), nullable=True),
    sa.Column('tier_changed_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('purchase_count', sa.Integer(), nullable=False),
    sa.Column('lifetime_spend', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('first_purchase_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_purchase_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('referral_count', sa.Integer(), nullable=False),
    sa.Column('points_earned', sa.Integer(), nullable=False),
    sa.Column('points_redeemed', sa.Integer(), nullable=False),
    sa.Column('points_expired', sa.Integer(), nullable=False),
    sa.Column('points_reversed', sa.Integer(), nullable=False),
    sa.Column('points_adjusted', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers'))
    )
    op.create_table('idempotency_keys',
    sa.Column('scope', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'key', name=op.f('pk_idempotency_keys'))
    )
    op.create_table('customer_badges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('badge', sa.String(length=50), nullable=False),
    sa.Column('awarded_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('event_id', sa.String(length=128), nullable=True),
    sa.Column('rule_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_badges_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_badges')),
    sa.UniqueConstraint('customer_id', 'badge', name=op.f('uq_customer_badges_customer_id_badge'))
    )
    op.create_table('customer_perks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('perk', sa.String(length=50), nullable=False),
    sa.Column('granted_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('event_id', sa.String(length=128), nullable=True),
    sa.Column('rule_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_perks_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_perks')),
    sa.UniqueConstraint('customer_id', 'perk', name=op.f('uq_customer_perks_customer_id_perk'))
    )
    op.create_table('events',
    sa.Column('id', sa.String(length=128), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('occurred_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('channel', sa.String(length=50), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('attributes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('ruleset_version', sa.Integer(), nullable=True),
    sa.Column('response', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('order_id', sa.String(length=128), nullable=True),
    sa.Column('amount', sa.Numeric(precision=18, scale=4), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('referred_customer_id', sa.String(length=128), nullable=True),
    sa.Column('survey', sa.String(length=8), nullable=True),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_events_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_customer_id_occurred_at', ['customer_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_events_type_occurred_at', ['type', 'occurred_at'], unique=False)

    op.create_table('ledger_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=128), nullable=True),
    sa.Column('rule_id', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_ledger_entries_customer_id_customers')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_ledger_entries_event_id_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entries_customer_id_id', ['customer_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_entries_event_id'), ['event_id'], unique=False)

    op.create_table('orders',
    sa.Column('id', sa.String(length=128), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('purchase_event_id', sa.String(length=128), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('refunded_amount', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('points_earned', sa.Integer(), nullable=False),
    sa.Column('points_reversed', sa.Integer(), nullable=False),
    sa.Column('points_shortfall', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_orders_customer_id_customers')),
    sa.ForeignKeyConstraint(['purchase_event_id'], ['events.id'], name=op.f('fk_orders_purchase_event_id_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders'))
    )
    op.create_table('referrals',
    sa.Column('referred_customer_id', sa.String(length=128), nullable=False),
    sa.Column('referrer_id', sa.String(length=128), nullable=False),
    sa.Column('event_id', sa.String(length=128), nullable=False),
    sa.Column('occurred_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_referrals_event_id_events')),
    sa.ForeignKeyConstraint(['referrer_id'], ['customers.id'], name=op.f('fk_referrals_referrer_id_customers')),
    sa.PrimaryKeyConstraint('referred_customer_id', name=op.f('pk_referrals'))
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referrals_referrer_id'), ['referrer_id'], unique=False)

    op.create_table('point_lots',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('event_id', sa.String(length=128), nullable=True),
    sa.Column('order_id', sa.String(length=128), nullable=True),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('remaining', sa.Integer(), nullable=False),
    sa.Column('available_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_point_lots_customer_id_customers')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'], name=op.f('fk_point_lots_entry_id_ledger_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_point_lots'))
    )
    with op.batch_alter_table('point_lots', schema=None) as batch_op:
        batch_op.create_index('ix_point_lots_expiring', ['expires_at'], unique=False, sqlite_where=sa.text('remaining > 0'), postgresql_where=sa.text('remaining > 0'))
        batch_op.create_index('ix_point_lots_open', ['customer_id', 'expires_at'], unique=False, sqlite_where=sa.text('remaining != 0'), postgresql_where=sa.text('remaining != 0'))
        batch_op.create_index(batch_op.f('ix_point_lots_order_id'), ['order_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('point_lots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_point_lots_order_id'))
        batch_op.drop_index('ix_point_lots_open', sqlite_where=sa.text('remaining != 0'), postgresql_where=sa.text('remaining != 0'))
        batch_op.drop_index('ix_point_lots_expiring', sqlite_where=sa.text('remaining > 0'), postgresql_where=sa.text('remaining > 0'))

    op.drop_table('point_lots')
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referrals_referrer_id'))

    op.drop_table('referrals')
    op.drop_table('orders')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_entries_event_id'))
        batch_op.drop_index('ix_ledger_entries_customer_id_id')

    op.drop_table('ledger_entries')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_type_occurred_at')
        batch_op.drop_index('ix_events_customer_id_occurred_at')

    op.drop_table('events')
    op.drop_table('customer_perks')
    op.drop_table('customer_badges')
    op.drop_table('idempotency_keys')
    op.drop_table('customers')
