"""rewards catalog, claims, coupons, imported code pools, referral codes

Rewards keep their documents as versions (as rules do) and their live stock on the row;
a claim records the version it bought, the coupon it issued and the ledger entry that paid
for it. Imported codes wait in ``reward_codes`` until a claim takes one. Each customer has
at most one referral code.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 00:04:16.213374
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects import postgresql

import app.models.base

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rewards',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('current_version', sa.Integer(), nullable=False),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('stock', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('pooled', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rewards'))
    )
    op.create_table('referral_codes',
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_referral_codes_customer_id_customers')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_referral_codes')),
    sa.UniqueConstraint('customer_id', name=op.f('uq_referral_codes_customer_id'))
    )
    op.create_table('reward_codes',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('reward_id', sa.String(length=64), nullable=False),
    sa.Column('imported_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('taken_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['reward_id'], ['rewards.id'], name=op.f('fk_reward_codes_reward_id_rewards')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_reward_codes'))
    )
    op.create_index('ix_reward_codes_free', 'reward_codes', ['reward_id', 'code'], unique=False, sqlite_where=sa.text('taken_at IS NULL'), postgresql_where=sa.text('taken_at IS NULL'))

    op.create_table('reward_versions',
    sa.Column('reward_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['reward_id'], ['rewards.id'], name=op.f('fk_reward_versions_reward_id_rewards')),
    sa.PrimaryKeyConstraint('reward_id', 'version', name=op.f('pk_reward_versions'))
    )
    op.create_table('reward_claims',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('reward_id', sa.String(length=64), nullable=False),
    sa.Column('reward_version', sa.Integer(), nullable=False),
    sa.Column('points', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('period_key', sa.String(length=16), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('event_id', sa.String(length=128), nullable=True),
    sa.Column('rule_id', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('voided_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_reward_claims_customer_id_customers')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'], name=op.f('fk_reward_claims_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['reward_id'], ['rewards.id'], name=op.f('fk_reward_claims_reward_id_rewards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reward_claims'))
    )
    op.create_index('ix_reward_claims_created_at', 'reward_claims', ['created_at'], unique=False)
    op.create_index('ix_reward_claims_customer_reward_period', 'reward_claims', ['customer_id', 'reward_id', 'period_key'], unique=False)

    op.create_table('coupons',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('claim_id', sa.String(length=64), nullable=False),
    sa.Column('reward_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('issued_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('order_id', sa.String(length=128), nullable=True),
    sa.Column('used_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expired_notified_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['claim_id'], ['reward_claims.id'], name=op.f('fk_coupons_claim_id_reward_claims')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_coupons_customer_id_customers')),
    sa.ForeignKeyConstraint(['reward_id'], ['rewards.id'], name=op.f('fk_coupons_reward_id_rewards')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_coupons')),
    sa.UniqueConstraint('claim_id', name=op.f('uq_coupons_claim_id'))
    )
    op.create_index('ix_coupons_customer_id_issued_at', 'coupons', ['customer_id', 'issued_at'], unique=False)
    op.create_index('ix_coupons_expiring', 'coupons', ['expires_at'], unique=False, sqlite_where=sa.text("status = 'active' AND expired_notified_at IS NULL"), postgresql_where=sa.text("status = 'active' AND expired_notified_at IS NULL"))
    op.create_index(op.f('ix_coupons_reward_id'), 'coupons', ['reward_id'], unique=False)



def downgrade() -> None:
    op.drop_index(op.f('ix_coupons_reward_id'), table_name='coupons')
    op.drop_index('ix_coupons_expiring', sqlite_where=sa.text("status = 'active' AND expired_notified_at IS NULL"), postgresql_where=sa.text("status = 'active' AND expired_notified_at IS NULL"), table_name='coupons')
    op.drop_index('ix_coupons_customer_id_issued_at', table_name='coupons')

    op.drop_table('coupons')
    op.drop_index('ix_reward_claims_customer_reward_period', table_name='reward_claims')
    op.drop_index('ix_reward_claims_created_at', table_name='reward_claims')

    op.drop_table('reward_claims')
    op.drop_table('reward_versions')
    op.drop_index('ix_reward_codes_free', sqlite_where=sa.text('taken_at IS NULL'), postgresql_where=sa.text('taken_at IS NULL'), table_name='reward_codes')

    op.drop_table('reward_codes')
    op.drop_table('referral_codes')
    op.drop_table('rewards')
