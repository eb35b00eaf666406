"""covering indexes for the metrics

The purchase index gains amount and currency (and replaces the plain (type, occurred_at)
index, its prefix), a second one orders them by customer, and the survey index becomes a
partial index over the answers with every column NPS and CSAT read: the metrics and the
predictive fit's aggregate are answered from the indexes without reading the event rows.
Refunded orders get a small partial index for historical CLTV's refunds.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 17:46:45.368730
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_type_occurred_at_customer_id_amount', ['type', 'occurred_at', 'customer_id', 'amount', 'currency'], unique=False)
        batch_op.create_index('ix_events_type_customer_id_occurred_at_amount', ['type', 'customer_id', 'occurred_at', 'amount'], unique=False)
        batch_op.create_index('ix_events_survey_occurred_at_answers', ['survey', 'occurred_at', 'type', 'customer_id', 'score', 'channel', 'id'], unique=False, sqlite_where=sa.text('survey IS NOT NULL'), postgresql_where=sa.text('survey IS NOT NULL'))
        batch_op.drop_index('ix_events_type_occurred_at')
        batch_op.drop_index('ix_events_type_occurred_at_customer_id')
        batch_op.drop_index('ix_events_survey_occurred_at')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_refunded_purchase_event_id', ['purchase_event_id', 'customer_id', 'refunded_amount'], unique=False, sqlite_where=sa.text('refunded_amount > 0'), postgresql_where=sa.text('refunded_amount > 0'))


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_refunded_purchase_event_id')

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_type_occurred_at', ['type', 'occurred_at'], unique=False)
        batch_op.create_index('ix_events_type_occurred_at_customer_id', ['type', 'occurred_at', 'customer_id'], unique=False)
        batch_op.create_index('ix_events_survey_occurred_at', ['survey', 'occurred_at'], unique=False)
        batch_op.drop_index('ix_events_type_occurred_at_customer_id_amount')
        batch_op.drop_index('ix_events_type_customer_id_occurred_at_amount')
        batch_op.drop_index('ix_events_survey_occurred_at_answers')
