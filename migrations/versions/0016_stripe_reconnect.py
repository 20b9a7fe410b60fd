"""tradies: stripe_reconnect_needed_at, set when Stripe stops answering for a tradie's
connected account (access revoked, account gone), so the dashboard asks for a reconnect and
the widget stops offering bookings

Revision ID: 0016
Revises: 0015
Create Date: 2027-01-12 12:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

from peepopay.db_setup import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('tradies', sa.Column('stripe_reconnect_needed_at', UTCDateTime()))


def downgrade():
    # A plain DROP COLUMN (SQLite 3.35+): a batch rebuild of tradies would cascade to bookings.
    op.drop_column('tradies', 'stripe_reconnect_needed_at')
