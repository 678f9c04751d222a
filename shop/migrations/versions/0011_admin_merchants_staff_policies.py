"""admin merchants staff policies: customs policy rows added by operators

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 11:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('customs_policy_rows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('rule_set_id', sa.String(length=60), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('countries', sa.JSON(), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customs_policy_rows')),
    sa.UniqueConstraint('rule_set_id', 'effective_from', name=op.f('uq_customs_policy_rows_rule_set_id_effective_from'))
    )
    with op.batch_alter_table('customs_policy_rows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customs_policy_rows_effective_from'), ['effective_from'], unique=False)


def downgrade():
    with op.batch_alter_table('customs_policy_rows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customs_policy_rows_effective_from'))
    op.drop_table('customs_policy_rows')
