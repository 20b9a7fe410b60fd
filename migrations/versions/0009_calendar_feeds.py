"""calendars: the tradie's own calendar feeds and the busy intervals read from them

Busy intervals are stored in pieces of at most a day, so availability reads them through the
(tradie_id, starts_at) index with the same bounded range scan as bookings.

Revision ID: 0009
Revises: 0013
Create Date: 2026-12-03 11:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

from peepopay.db_setup import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'calendar_feeds',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tradie_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('username', sa.String(length=254), nullable=True),
        sa.Column('password_encrypted', sa.Text(), nullable=True),
        sa.Column('etag', sa.String(length=255), nullable=True),
        sa.Column('last_modified', sa.String(length=64), nullable=True),
        sa.Column('parsed_at', UTCDateTime(), nullable=True),
        sa.Column('last_attempt_at', UTCDateTime(), nullable=True),
        sa.Column('last_success_at', UTCDateTime(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('failing_since', UTCDateTime(), nullable=True),
        sa.Column('failure_notified_at', UTCDateTime(), nullable=True),
        sa.Column('next_sync_at', UTCDateTime(), nullable=False),
        sa.Column('busy_count', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('ics', 'caldav')", name=op.f('ck_calendar_feeds_feed_kind')),
        sa.ForeignKeyConstraint(
            ['tradie_id'], ['tradies.id'],
            name=op.f('fk_calendar_feeds_tradie_id_tradies'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_feeds')),
    )
    with op.batch_alter_table('calendar_feeds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_feeds_tradie_id'), ['tradie_id'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_calendar_feeds_next_sync_at'), ['next_sync_at'], unique=False
        )
    op.create_table(
        'busy_times',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tradie_id', sa.Integer(), nullable=False),
        sa.Column('feed_id', sa.Integer(), nullable=False),
        sa.Column('starts_at', UTCDateTime(), nullable=False),
        sa.Column('ends_at', UTCDateTime(), nullable=False),
        sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_busy_times_busy_ordered')),
        sa.ForeignKeyConstraint(
            ['feed_id'], ['calendar_feeds.id'],
            name=op.f('fk_busy_times_feed_id_calendar_feeds'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['tradie_id'], ['tradies.id'],
            name=op.f('fk_busy_times_tradie_id_tradies'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_busy_times')),
    )
    with op.batch_alter_table('busy_times', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_busy_times_feed_id'), ['feed_id'], unique=False)
        batch_op.create_index(
            'ix_busy_times_tradie_id_starts_at', ['tradie_id', 'starts_at'], unique=False
        )


def downgrade():
    op.drop_table('busy_times')
    op.drop_table('calendar_feeds')
