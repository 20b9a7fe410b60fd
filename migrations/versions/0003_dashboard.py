"""dashboard: daily widget view counts

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-22 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('widget_views',
    sa.Column('tradie_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tradie_id'], ['tradies.id'], name=op.f('fk_widget_views_tradie_id_tradies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tradie_id', 'day', name=op.f('pk_widget_views'))
    )


def downgrade():
    op.drop_table('widget_views')
