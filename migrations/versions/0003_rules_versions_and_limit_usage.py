"""rules, versions and limit usage

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 14:58:20.074661
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rule_budgets',
    sa.Column('rule_id', sa.String(length=64), nullable=False),
    sa.Column('issued', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('rule_id', name=op.f('pk_rule_budgets'))
    )
    op.create_table('rule_limit_counters',
    sa.Column('rule_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('period_key', sa.String(length=16), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('rule_id', 'customer_id', 'period_key', name=op.f('pk_rule_limit_counters'))
    )
    op.create_table('rules',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('current_version', sa.Integer(), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rules'))
    )
    op.create_table('ruleset_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ruleset_head'))
    )
    # Version 0 is the built-in default ruleset, in force until the first rule change.
    op.execute("INSERT INTO ruleset_head (id, version) VALUES (1, 0)")
    op.create_table('ruleset_versions',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('change', sa.String(length=200), nullable=False),
    sa.Column('rules', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('tiers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_ruleset_versions'))
    )
    op.create_table('rule_versions',
    sa.Column('rule_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('ruleset_version', sa.Integer(), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['rule_id'], ['rules.id'], name=op.f('fk_rule_versions_rule_id_rules')),
    sa.ForeignKeyConstraint(['ruleset_version'], ['ruleset_versions.version'], name=op.f('fk_rule_versions_ruleset_version_ruleset_versions')),
    sa.PrimaryKeyConstraint('rule_id', 'version', name=op.f('pk_rule_versions'))
    )


def downgrade() -> None:
    op.drop_table('rule_versions')
    op.drop_table('ruleset_versions')
    op.drop_table('ruleset_head')
    op.drop_table('rules')
    op.drop_table('rule_limit_counters')
    op.drop_table('rule_budgets')
