"""shipments keep the quoted carrier service and the chosen pickup point

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 12:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    # The tariff shown at checkout is the one booked, and a parcel for a pickup point
    # goes to that point. Nullable: older shipments were quoted by the lane table and
    # go to the address, which is what empty columns mean.
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('quoted_carrier', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('quoted_service', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('delivery_point', sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column('delivery_point_address', sa.String(length=300), nullable=True)
        )


def downgrade():
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.drop_column('delivery_point_address')
        batch_op.drop_column('delivery_point')
        batch_op.drop_column('quoted_service')
        batch_op.drop_column('quoted_carrier')
