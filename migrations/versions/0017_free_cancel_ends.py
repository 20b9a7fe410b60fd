"""bookings: free_cancel_ends_at, the free-cancellation deadline a move may not push later
(a customer's entitlement never grows by moving)

Revision ID: 0017
Revises: 0016
Create Date: 2027-01-13 12:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

from peepopay.db_setup import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('bookings', sa.Column('free_cancel_ends_at', UTCDateTime()))


def downgrade():
    # A plain DROP COLUMN (SQLite 3.35+): a batch rebuild would cascade to the payments.
    op.drop_column('bookings', 'free_cancel_ends_at')
