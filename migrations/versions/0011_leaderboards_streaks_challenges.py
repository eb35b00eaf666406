"""leaderboards, streaks and challenges

Leaderboards: definitions, live scores per period and customer, period closings. Streaks:
definitions, and each customer's active periods per streak. Challenges: definitions, and
each customer's current window and completions.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 00:05:47.368285
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.models.base

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = app.models.base.UTCDateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'leaderboards',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('description', sa.String(length=2000), nullable=True),
        sa.Column('score', sa.String(length=32), nullable=False),
        sa.Column('event_types', JSON, nullable=False),
        sa.Column('period', sa.String(length=16), nullable=False),
        sa.Column('rolling_days', sa.Integer(), nullable=True),
        sa.Column('tier', sa.String(length=50), nullable=True),
        sa.Column('rewards', JSON, nullable=False),
        sa.Column('created_at', TIMESTAMP, nullable=False),
        sa.Column('updated_at', TIMESTAMP, nullable=False),
        sa.Column('deleted_at', TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_leaderboards')),
    )
    op.create_table(
        'leaderboard_periods',
        sa.Column('leaderboard_id', sa.String(length=64), nullable=False),
        sa.Column('period_key', sa.String(length=16), nullable=False),
        sa.Column('starts_at', TIMESTAMP, nullable=False),
        sa.Column('ends_at', TIMESTAMP, nullable=False),
        sa.Column('closed_at', TIMESTAMP, nullable=True),
        sa.Column('results', JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ['leaderboard_id'],
            ['leaderboards.id'],
            name=op.f('fk_leaderboard_periods_leaderboard_id_leaderboards'),
        ),
        sa.PrimaryKeyConstraint('leaderboard_id', 'period_key', name=op.f('pk_leaderboard_periods')),
    )
    op.create_index(
        op.f('ix_leaderboard_periods_ends_at'), 'leaderboard_periods', ['ends_at'], unique=False
    )
    op.create_table(
        'leaderboard_scores',
        sa.Column('leaderboard_id', sa.String(length=64), nullable=False),
        sa.Column('period_key', sa.String(length=16), nullable=False),
        sa.Column('customer_id', sa.String(length=128), nullable=False),
        sa.Column('score', sa.Numeric(precision=24, scale=4), nullable=False),
        sa.Column('reached_at', TIMESTAMP, nullable=False),
        sa.Column('hidden', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ['customer_id'],
            ['customers.id'],
            name=op.f('fk_leaderboard_scores_customer_id_customers'),
        ),
        sa.ForeignKeyConstraint(
            ['leaderboard_id'],
            ['leaderboards.id'],
            name=op.f('fk_leaderboard_scores_leaderboard_id_leaderboards'),
        ),
        sa.PrimaryKeyConstraint(
            'leaderboard_id', 'period_key', 'customer_id', name=op.f('pk_leaderboard_scores')
        ),
    )
    op.create_index(
        op.f('ix_leaderboard_scores_customer_id'), 'leaderboard_scores', ['customer_id'], unique=False
    )
    op.create_index(
        'ix_leaderboard_scores_standing',
        'leaderboard_scores',
        [
            'leaderboard_id',
            'period_key',
            'hidden',
            sa.literal_column('score DESC'),
            'reached_at',
            'customer_id',
        ],
        unique=False,
    )


    op.create_table(
        'streaks',
        sa.Column('id', sa.String(length=50), nullable=False),
        sa.Column('event_types', JSON, nullable=False),
        sa.Column('period', sa.String(length=8), nullable=False),
        sa.Column('grace', sa.Integer(), nullable=False),
        sa.Column('created_at', TIMESTAMP, nullable=False),
        sa.Column('updated_at', TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_streaks')),
    )
    op.create_table(
        'customer_streaks',
        sa.Column('streak_id', sa.String(length=50), nullable=False),
        sa.Column('customer_id', sa.String(length=128), nullable=False),
        sa.Column('periods', JSON, nullable=False),
        sa.Column('updated_at', TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ['customer_id'], ['customers.id'], name=op.f('fk_customer_streaks_customer_id_customers')
        ),
        sa.ForeignKeyConstraint(
            ['streak_id'], ['streaks.id'], name=op.f('fk_customer_streaks_streak_id_streaks')
        ),
        sa.PrimaryKeyConstraint('streak_id', 'customer_id', name=op.f('pk_customer_streaks')),
    )
    op.create_index(
        op.f('ix_customer_streaks_customer_id'), 'customer_streaks', ['customer_id'], unique=False
    )
    op.create_table(
        'challenges',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('description', sa.String(length=2000), nullable=True),
        sa.Column('event_types', JSON, nullable=False),
        sa.Column('condition', JSON, nullable=True),
        sa.Column('goal', JSON, nullable=False),
        sa.Column('window', JSON, nullable=False),
        sa.Column('actions', JSON, nullable=False),
        sa.Column('repeat', sa.String(length=16), nullable=False),
        sa.Column('created_at', TIMESTAMP, nullable=False),
        sa.Column('updated_at', TIMESTAMP, nullable=False),
        sa.Column('deleted_at', TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_challenges')),
    )
    op.create_table(
        'challenge_progress',
        sa.Column('challenge_id', sa.String(length=64), nullable=False),
        sa.Column('customer_id', sa.String(length=128), nullable=False),
        sa.Column('window_start', TIMESTAMP, nullable=False),
        sa.Column('deadline', TIMESTAMP, nullable=False),
        sa.Column('progress', sa.Numeric(precision=24, scale=4), nullable=False),
        sa.Column('window_completed', sa.Boolean(), nullable=False),
        sa.Column('completions', sa.Integer(), nullable=False),
        sa.Column('completed_at', TIMESTAMP, nullable=True),
        sa.Column('updated_at', TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ['challenge_id'],
            ['challenges.id'],
            name=op.f('fk_challenge_progress_challenge_id_challenges'),
        ),
        sa.ForeignKeyConstraint(
            ['customer_id'],
            ['customers.id'],
            name=op.f('fk_challenge_progress_customer_id_customers'),
        ),
        sa.PrimaryKeyConstraint('challenge_id', 'customer_id', name=op.f('pk_challenge_progress')),
    )
    op.create_index(
        op.f('ix_challenge_progress_customer_id'), 'challenge_progress', ['customer_id'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_challenge_progress_customer_id'), table_name='challenge_progress')
    op.drop_table('challenge_progress')
    op.drop_table('challenges')
    op.drop_index(op.f('ix_customer_streaks_customer_id'), table_name='customer_streaks')
    op.drop_table('customer_streaks')
    op.drop_table('streaks')
    op.drop_index('ix_leaderboard_scores_standing', table_name='leaderboard_scores')
    op.drop_index(op.f('ix_leaderboard_scores_customer_id'), table_name='leaderboard_scores')
    op.drop_table('leaderboard_scores')
    op.drop_index(op.f('ix_leaderboard_periods_ends_at'), table_name='leaderboard_periods')
    op.drop_table('leaderboard_periods')
    op.drop_table('leaderboards')
