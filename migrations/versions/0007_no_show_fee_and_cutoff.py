"""tradies: the no-show fee and how late customers may change a booking online

A no-show is one more booking status; the status column has no CHECK to widen, and the
overlap guarantee counts only pending and confirmed bookings, so a no-show (its time already
past) blocks nothing, as a completed job does.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 09:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        'tradies',
        sa.Column('customer_cutoff_hours', sa.Integer(), nullable=False, server_default='0'),
    )
    op.add_column(
        'tradies',
        sa.Column('no_show_fee_minor', sa.Integer(), nullable=False, server_default='0'),
    )


def downgrade():
    # Plain DROP COLUMNs (SQLite 3.35+): a batch rebuild of tradies would cascade.
    op.drop_column('tradies', 'no_show_fee_minor')
    op.drop_column('tradies', 'customer_cutoff_hours')
