"""indexes the dashboard needs at the size of a real platform (bench.pages, 1,000,000 bookings)

Every dashboard statement reads the signed-in tradie's rows of one time range or one filter;
with only (tradie_id, starts_at) and single-column indexes, PostgreSQL walked all of a tradie's
bookings or payments and filtered them, so the cost grew with history:

- bookings (tradie_id, status, starts_at): a status filter, its count and its order;
- bookings (tradie_id, created_at): the analytics funnel (bookings made in twelve weeks);
- payments (tradie_id, created_at): the month's sums on the overview, the payments per month
  (read newest first until twelve months are complete), the latest payments, the deposits per
  week. It replaces payments (tradie_id), its prefix, which the planner preferred for those
  range sums, reading every payment of the tradie.

The upcoming bookings list bounds its start (peepopay.bookings.listing) instead of an index on
ends_at, as the calendar does.

PostgreSQL only: the bookings search (a substring of the customer's name, email or phone)
through trigram GIN indexes (pg_trgm), so a search reads the matching rows, not every booking
of the tradie. SQLite has no trigram index; the models leave these out (tests/test_app.py
names them).

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-06 09:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0010'
branch_labels = None
depends_on = None

# Kept in step with peepopay.bookings.models.SEARCH_INDEXES.
SEARCH_INDEXES = {
    'ix_bookings_name_trgm': 'lower(customer_name)',
    'ix_bookings_email_trgm': 'lower(customer_email)',
    'ix_bookings_phone_trgm': 'customer_phone',
}


def upgrade():
    op.create_index(
        'ix_bookings_tradie_status_starts_at', 'bookings', ['tradie_id', 'status', 'starts_at']
    )
    op.create_index('ix_bookings_tradie_created_at', 'bookings', ['tradie_id', 'created_at'])
    op.create_index('ix_payments_tradie_created_at', 'payments', ['tradie_id', 'created_at'])
    op.drop_index('ix_payments_tradie_id', table_name='payments')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        for name, expression in SEARCH_INDEXES.items():
            op.execute(f'CREATE INDEX {name} ON bookings USING gin ({expression} gin_trgm_ops)')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for name in SEARCH_INDEXES:
            op.execute(f'DROP INDEX IF EXISTS {name}')
    op.create_index('ix_payments_tradie_id', 'payments', ['tradie_id'])
    op.drop_index('ix_payments_tradie_created_at', table_name='payments')
    op.drop_index('ix_bookings_tradie_created_at', table_name='bookings')
    op.drop_index('ix_bookings_tradie_status_starts_at', table_name='bookings')
