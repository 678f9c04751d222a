"""payments keep the order's own amount when they were converted to the provider's currency

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 16:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    # A payment made in a provider's currency (YooKassa RUB, Alipay and WeChat Pay CNY)
    # for an order in another one: what it pays of the order, in the order's currency.
    # Null: the payment is in the order's currency (every payment before #18).
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('order_amount', sa.Numeric(precision=19, scale=4), nullable=True)
        )


def downgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('order_amount')
