"""points and the counters that sum them in 64 bits

A purchase of the largest amount earns more points than int4 holds, and a customer's
counters sum every movement. On PostgreSQL these columns become BIGINT; SQLite's INTEGER
is already 64-bit, so nothing changes there.

ALTER ... TYPE bigint rewrites each table under an exclusive lock: run it in a quiet
moment on a large database.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {
    'ledger_entries': ['points'],
    'point_lots': ['points', 'remaining'],
    'customers': [
        'points_earned',
        'points_redeemed',
        'points_expired',
        'points_reversed',
        'points_adjusted',
    ],
    'orders': ['points_earned', 'points_reversed', 'points_shortfall'],
    'rule_budgets': ['issued'],
    'rule_limit_counters': ['count'],
}


def _alter(to: sa.types.TypeEngine[int], from_: sa.types.TypeEngine[int]) -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, type_=to, existing_type=from_)


def upgrade() -> None:
    _alter(sa.BigInteger(), sa.Integer())


def downgrade() -> None:
    # Fails if a value no longer fits in 32 bits, which is the point of keeping them.
    _alter(sa.Integer(), sa.BigInteger())
