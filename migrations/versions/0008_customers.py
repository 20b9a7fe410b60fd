"""customers: one record per person a tradie booked, matched by email or phone

Existing bookings are grouped into customers here: bookings sharing an email (any case) or a
phone, directly or through another booking, are one person.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 09:00:00.000000

"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'customers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tradie_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('phone', sa.String(length=32), nullable=True),
        sa.Column('address', sa.String(length=300), nullable=False),
        sa.Column('notes', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_booked_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tradie_id'], ['tradies.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(
        'uq_customers_tradie_email', 'customers', ['tradie_id', 'email'], unique=True,
        sqlite_where=sa.text('email IS NOT NULL'), postgresql_where=sa.text('email IS NOT NULL'),
    )
    op.create_index(
        'uq_customers_tradie_phone', 'customers', ['tradie_id', 'phone'], unique=True,
        sqlite_where=sa.text('phone IS NOT NULL'), postgresql_where=sa.text('phone IS NOT NULL'),
    )
    op.create_index(
        'ix_customers_tradie_last_booked', 'customers', ['tradie_id', 'last_booked_at']
    )
    # No batch rebuild of bookings on SQLite: it would cascade to the payments and drop the
    # overlap triggers. SQLite takes a REFERENCES clause on ADD COLUMN.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(
            'ALTER TABLE bookings ADD COLUMN customer_id INTEGER'
            ' CONSTRAINT fk_bookings_customer_id_customers'
            ' REFERENCES customers (id) ON DELETE SET NULL'
        )
    else:
        op.add_column('bookings', sa.Column('customer_id', sa.Integer(), nullable=True))
        op.create_foreign_key(
            'fk_bookings_customer_id_customers', 'bookings', 'customers', ['customer_id'],
            ['id'], ondelete='SET NULL',
        )
    op.create_index('ix_bookings_customer_id', 'bookings', ['customer_id'])
    op.create_index('ix_bookings_tradie_phone', 'bookings', ['tradie_id', 'customer_phone'])
    op.create_index(
        'ix_bookings_tradie_email', 'bookings', ['tradie_id', sa.text('lower(customer_email)')]
    )
    _group_existing_bookings()


def _group_existing_bookings():
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        'SELECT id, tradie_id, customer_name, customer_email, customer_phone, job_address,'
        ' created_at FROM bookings ORDER BY tradie_id, created_at, id'
    )).all()
    parent = {}

    def find(node):
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for row in rows:
        keys = [('b', row.id)]
        if row.customer_email:
            keys.append(('e', row.tradie_id, row.customer_email.strip().lower()))
        if row.customer_phone:
            keys.append(('p', row.tradie_id, row.customer_phone))
        for key in keys[1:]:
            parent[find(key)] = find(keys[0])
    customers = sa.table(
        'customers', sa.column('id'), sa.column('tradie_id'), sa.column('name'),
        sa.column('email'), sa.column('phone'), sa.column('address'), sa.column('notes'),
        sa.column('created_at'), sa.column('updated_at'), sa.column('last_booked_at'),
    )
    groups = {}
    for row in rows:
        groups.setdefault(find(('b', row.id)), []).append(row)
    now = datetime.now(timezone.utc)
    for members in groups.values():
        first, last = members[0], members[-1]
        email = next((m.customer_email.strip().lower() for m in members if m.customer_email), None)
        phone = next((m.customer_phone for m in members if m.customer_phone), None)
        created = bind.execute(
            customers.insert().values(
                tradie_id=first.tradie_id, name=last.customer_name, email=email, phone=phone,
                address=last.job_address, notes='', created_at=first.created_at or now,
                updated_at=now, last_booked_at=last.created_at or now,
            ).returning(customers.c.id)
        ).scalar_one()
        bind.execute(
            sa.text('UPDATE bookings SET customer_id = :customer WHERE id IN :ids').bindparams(
                sa.bindparam('ids', expanding=True)
            ),
            {'customer': created, 'ids': [m.id for m in members]},
        )


def downgrade():
    op.drop_index('ix_bookings_tradie_email', table_name='bookings')
    op.drop_index('ix_bookings_tradie_phone', table_name='bookings')
    op.drop_index('ix_bookings_customer_id', table_name='bookings')
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint('fk_bookings_customer_id_customers', 'bookings', type_='foreignkey')
    # A plain DROP COLUMN (SQLite 3.35+): a batch rebuild would cascade to the payments.
    op.drop_column('bookings', 'customer_id')
    op.drop_table('customers')
