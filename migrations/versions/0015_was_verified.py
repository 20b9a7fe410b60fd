"""tradies: was_verified_at, so an account confirmed once stays public while a changed email
awaits confirmation; a sign-up nobody confirmed has no public booking page

Accounts unconfirmed today that already took bookings (their email was changed) keep their
page: they get their creation time.

Revision ID: 0015
Revises: 0014
Create Date: 2027-01-12 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

from peepopay.db_setup import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('tradies', sa.Column('was_verified_at', UTCDateTime()))
    op.execute(
        """
        UPDATE tradies SET was_verified_at = created_at
        WHERE email_verified_at IS NULL
          AND EXISTS (SELECT 1 FROM bookings WHERE bookings.tradie_id = tradies.id)
        """
    )


def downgrade():
    # A plain DROP COLUMN (SQLite 3.35+): a batch rebuild of tradies would cascade to bookings.
    op.drop_column('tradies', 'was_verified_at')
