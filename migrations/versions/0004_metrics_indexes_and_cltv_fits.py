"""metrics indexes and the cached predictive CLTV fits

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 15:29:40.071429
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cltv_fits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('window_from', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('window_to', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('time_unit', sa.String(length=8), nullable=False),
    sa.Column('fitted_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('horizon', sa.Double(), nullable=False),
    sa.Column('discount_rate', sa.Double(), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('summary', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cltv_fits')),
    sa.UniqueConstraint('key', name=op.f('uq_cltv_fits_key'))
    )
    with op.batch_alter_table('cltv_fits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cltv_fits_fitted_at'), ['fitted_at'], unique=False)

    op.create_table('cltv_predictions',
    sa.Column('fit_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('p_alive', sa.Double(), nullable=False),
    sa.Column('expected_transactions', sa.Double(), nullable=False),
    sa.Column('predicted_clv', sa.Double(), nullable=True),
    sa.ForeignKeyConstraint(['fit_id'], ['cltv_fits.id'], name=op.f('fk_cltv_predictions_fit_id_cltv_fits'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('fit_id', 'customer_id', name=op.f('pk_cltv_predictions'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customers_first_purchase_at'), ['first_purchase_at'], unique=False)

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_survey_occurred_at', ['survey', 'occurred_at'], unique=False)
        batch_op.create_index('ix_events_type_occurred_at_customer_id', ['type', 'occurred_at', 'customer_id'], unique=False)

    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referrals_occurred_at'), ['occurred_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referrals_occurred_at'))

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_type_occurred_at_customer_id')
        batch_op.drop_index('ix_events_survey_occurred_at')

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_first_purchase_at'))

    op.drop_table('cltv_predictions')
    with op.batch_alter_table('cltv_fits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cltv_fits_fitted_at'))

    op.drop_table('cltv_fits')
