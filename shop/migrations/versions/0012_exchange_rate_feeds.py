"""exchange rate feeds: a record of every feed run

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 11:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rate_feed_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('feed', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('published_on', sa.Date(), nullable=True),
    sa.Column('rates_seen', sa.Integer(), nullable=False),
    sa.Column('rows_added', sa.Integer(), nullable=False),
    sa.Column('pairs', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_feed_runs'))
    )
    with op.batch_alter_table('rate_feed_runs', schema=None) as batch_op:
        batch_op.create_index('ix_rate_feed_runs_feed_outcome', ['feed', 'outcome', 'finished_at'], unique=False)


def downgrade():
    with op.batch_alter_table('rate_feed_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_rate_feed_runs_feed_outcome')

    op.drop_table('rate_feed_runs')
