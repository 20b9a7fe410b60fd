"""bookings: a short per-tradie booking number (reference), and the tradie's counter

Existing bookings are numbered 1, 2, 3 … per tradie in the order they were made, and each
tradie's counter starts after its last one. New numbers come from the counter (an atomic
UPDATE … RETURNING on the tradie's row), so concurrent bookings never share one; the unique
index is the database's guarantee besides.

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-03 11:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMNs with a default (no batch rebuild: SQLite's overlap triggers stay).
    op.add_column(
        'tradies',
        sa.Column('last_booking_reference', sa.Integer(), nullable=False, server_default='0'),
    )
    op.add_column(
        'bookings', sa.Column('reference', sa.Integer(), nullable=False, server_default='0')
    )
    # UPDATE … FROM with a window function: PostgreSQL and SQLite (3.33+) both take it.
    op.execute(
        """
        UPDATE bookings SET reference = numbered.n
        FROM (
            SELECT id, ROW_NUMBER() OVER (PARTITION BY tradie_id ORDER BY id) AS n
            FROM bookings
        ) AS numbered
        WHERE bookings.id = numbered.id
        """
    )
    op.execute(
        """
        UPDATE tradies SET last_booking_reference = COALESCE(
            (SELECT MAX(reference) FROM bookings WHERE bookings.tradie_id = tradies.id), 0
        )
        """
    )
    op.create_index(
        'uq_bookings_tradie_id_reference', 'bookings', ['tradie_id', 'reference'], unique=True
    )


def downgrade():
    op.drop_index('uq_bookings_tradie_id_reference', table_name='bookings')
    op.drop_column('bookings', 'reference')
    op.drop_column('tradies', 'last_booking_reference')
