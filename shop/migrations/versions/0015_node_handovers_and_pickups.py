"""nodes say how they hand parcels to a carrier; shipments keep their courier pickup

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 12:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    # A CDEK "склад" sender tariff needs the office the node drops parcels at, a "дверь"
    # one a courier intake in the node's window: which one a node does is data.
    op.create_table(
        'node_handovers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('node_id', sa.Integer(), nullable=False),
        sa.Column('carrier', sa.String(length=40), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('office_code', sa.String(length=40), nullable=True),
        sa.Column('window_from', sa.String(length=5), nullable=True),
        sa.Column('window_to', sa.String(length=5), nullable=True),
        sa.Column('timezone', sa.String(length=40), nullable=True),
        sa.Column('address', sa.String(length=255), nullable=True),
        sa.Column('contact_name', sa.String(length=120), nullable=True),
        sa.Column('contact_phone', sa.String(length=24), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('drop_off', 'intake')", name=op.f('ck_node_handovers_kind_known')),
        sa.CheckConstraint(
            "(kind = 'drop_off' AND office_code IS NOT NULL) OR (kind = 'intake' AND "
            "window_from IS NOT NULL AND window_to IS NOT NULL AND address IS NOT NULL)",
            name=op.f('ck_node_handovers_kind_complete'),
        ),
        sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_node_handovers_node_id_nodes')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_node_handovers')),
        sa.UniqueConstraint('node_id', 'carrier', name=op.f('uq_node_handovers_node_id_carrier')),
    )
    with op.batch_alter_table('node_handovers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_node_handovers_node_id'), ['node_id'], unique=False)
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pickup_state', sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column('pickup_reference', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('pickup_on', sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.drop_column('pickup_on')
        batch_op.drop_column('pickup_reference')
        batch_op.drop_column('pickup_state')
    with op.batch_alter_table('node_handovers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_node_handovers_node_id'))
    op.drop_table('node_handovers')
