"""customs records: the buyer's full ID number, encrypted, on China orders

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 11:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    # Orders placed before stay NULL: their customs record carries the masked number
    # and says the full one is not available.
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customs_id_encrypted', sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('customs_id_encrypted')
