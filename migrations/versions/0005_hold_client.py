"""bookings: the keyed hash of the address a hold came from, to count a client's unpaid holds

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('bookings', sa.Column('client_key', sa.String(length=32), nullable=True))


def downgrade():
    # A plain DROP COLUMN (SQLite 3.35+): a batch rebuild would cascade to the payments.
    op.drop_column('bookings', 'client_key')
