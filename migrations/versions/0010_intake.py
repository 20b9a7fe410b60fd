"""job intake: service questions and answers, service area, arrival windows, photos

A booking by arrival window keeps the window it promised (window_starts_at/ends_at) and holds
one share of it as its [starts_at, ends_at): a window for N jobs is cut into N shares, so the
overlap guarantee of 0001 (exclusion constraint on PostgreSQL, triggers on SQLite) is what
caps the window at N jobs. No new constraint is needed for that.

Revision ID: 0010
Revises: 0011
Create Date: 2026-12-03 11:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

import peepopay.db_setup


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('tradies', sa.Column('service_area', sa.Text(), nullable=False, server_default=''))
    op.add_column(
        'tradies', sa.Column('jobs_per_window', sa.Integer(), nullable=False, server_default='2')
    )
    op.add_column(
        'services',
        sa.Column('by_arrival_window', sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column('bookings', sa.Column('postcode', sa.String(length=10), nullable=True))
    op.add_column(
        'bookings',
        sa.Column('window_starts_at', peepopay.db_setup.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column(
        'bookings',
        sa.Column('window_ends_at', peepopay.db_setup.UTCDateTime(timezone=True), nullable=True),
    )

    op.create_table(
        'service_questions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('service_id', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('required', sa.Boolean(), nullable=False),
        sa.Column('choices_text', sa.Text(), nullable=False),
        sa.Column('sort_order', sa.Integer(), nullable=False),
        sa.Column('created_at', peepopay.db_setup.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('short_text', 'long_text', 'yes_no', 'choice', 'number')",
            name=op.f('ck_service_questions_kind'),
        ),
        sa.ForeignKeyConstraint(
            ['service_id'], ['services.id'],
            name=op.f('fk_service_questions_service_id_services'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_service_questions')),
    )
    with op.batch_alter_table('service_questions', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_service_questions_service_id'), ['service_id'], unique=False
        )

    op.create_table(
        'arrival_windows',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tradie_id', sa.Integer(), nullable=False),
        sa.Column('weekday', sa.Integer(), nullable=False),
        sa.Column('start_local', sa.Time(), nullable=False),
        sa.Column('end_local', sa.Time(), nullable=False),
        sa.CheckConstraint(
            'weekday BETWEEN 0 AND 6', name=op.f('ck_arrival_windows_weekday_range')
        ),
        sa.CheckConstraint(
            'end_local > start_local', name=op.f('ck_arrival_windows_ends_after_start')
        ),
        sa.ForeignKeyConstraint(
            ['tradie_id'], ['tradies.id'],
            name=op.f('fk_arrival_windows_tradie_id_tradies'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_arrival_windows')),
    )
    with op.batch_alter_table('arrival_windows', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_arrival_windows_tradie_id'), ['tradie_id'], unique=False
        )

    op.create_table(
        'booking_answers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('booking_id', sa.Integer(), nullable=False),
        sa.Column('question_id', sa.Integer(), nullable=True),
        sa.Column('question', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('answer', sa.Text(), nullable=False),
        sa.Column('sort_order', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['booking_id'], ['bookings.id'],
            name=op.f('fk_booking_answers_booking_id_bookings'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['question_id'], ['service_questions.id'],
            name=op.f('fk_booking_answers_question_id_service_questions'), ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_booking_answers')),
    )
    with op.batch_alter_table('booking_answers', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_booking_answers_booking_id'), ['booking_id'], unique=False
        )
        batch_op.create_index(
            batch_op.f('ix_booking_answers_question_id'), ['question_id'], unique=False
        )

    op.create_table(
        'booking_photos',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('booking_id', sa.Integer(), nullable=False),
        sa.Column('storage_key', sa.String(length=64), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('size_bytes', sa.Integer(), nullable=False),
        sa.Column('created_at', peepopay.db_setup.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['booking_id'], ['bookings.id'],
            name=op.f('fk_booking_photos_booking_id_bookings'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_booking_photos')),
        sa.UniqueConstraint('storage_key', name=op.f('uq_booking_photos_storage_key')),
    )
    with op.batch_alter_table('booking_photos', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_booking_photos_booking_id'), ['booking_id'], unique=False
        )


def downgrade():
    op.drop_table('booking_photos')
    op.drop_table('booking_answers')
    op.drop_table('arrival_windows')
    op.drop_table('service_questions')
    # Plain DROP COLUMNs (SQLite 3.35+): a batch rebuild of tradies or bookings would cascade
    # or lose the overlap triggers.
    op.drop_column('bookings', 'window_ends_at')
    op.drop_column('bookings', 'window_starts_at')
    op.drop_column('bookings', 'postcode')
    op.drop_column('services', 'by_arrival_window')
    op.drop_column('tradies', 'jobs_per_window')
    op.drop_column('tradies', 'service_area')
