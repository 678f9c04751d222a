"""shipments carry their order's number

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 16:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    # The warehouse shows an order's number on pages, slips and carrier bookings; a copy
    # on the shipment spares it reading orders. Existing shipments get their order's.
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('order_number', sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE shipments SET order_number = "
        "(SELECT orders.number FROM orders WHERE orders.id = shipments.order_id)"
    )
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.alter_column('order_number', existing_type=sa.String(length=32), nullable=False)


def downgrade():
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.drop_column('order_number')
