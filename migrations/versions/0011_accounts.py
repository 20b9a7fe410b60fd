"""accounts: Google sign-in, two-factor sign-in with recovery codes, the guided first run

Tradies gain their Google subject (a unique index: one Google account per tradie), a TOTP
secret with the last time step accepted, the mobile number's verification code, and when the
first run's country and snippet steps were done. Recovery codes are a table of hashes.

Revision ID: 0011
Revises: 0012
Create Date: 2026-12-03 11:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

from peepopay.db_setup import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0012'
branch_labels = None
depends_on = None

NEW_COLUMNS = (
    ('google_sub', sa.String(length=255)),
    ('google_email', sa.String(length=254)),
    ('totp_secret', sa.String(length=64)),
    ('totp_enabled_at', UTCDateTime()),
    ('totp_last_step', sa.BigInteger()),
    ('phone_verified_at', UTCDateTime()),
    ('phone_pending', sa.String(length=32)),
    ('phone_code_hash', sa.String(length=64)),
    ('phone_code_expires_at', UTCDateTime()),
    ('profile_confirmed_at', UTCDateTime()),
    ('snippet_copied_at', UTCDateTime()),
)


def upgrade():
    for name, type_ in NEW_COLUMNS:
        op.add_column('tradies', sa.Column(name, type_, nullable=True))
    op.add_column(
        'tradies',
        sa.Column('phone_code_attempts', sa.Integer(), nullable=False, server_default='0'),
    )
    op.create_index('ix_tradies_google_sub', 'tradies', ['google_sub'], unique=True)
    # Tradies who were already set up keep their number and settings: nothing to walk through.
    tradies = sa.table(
        'tradies',
        sa.column('phone', sa.String),
        sa.column('phone_verified_at', UTCDateTime()),
        sa.column('profile_confirmed_at', UTCDateTime()),
        sa.column('snippet_copied_at', UTCDateTime()),
        sa.column('created_at', UTCDateTime()),
    )
    op.execute(
        tradies.update().values(
            profile_confirmed_at=tradies.c.created_at, snippet_copied_at=tradies.c.created_at
        )
    )
    op.execute(
        tradies.update()
        .where(tradies.c.phone.is_not(None))
        .values(phone_verified_at=tradies.c.created_at)
    )
    op.create_table(
        'recovery_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tradie_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('used_at', UTCDateTime(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['tradie_id'], ['tradies.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_recovery_codes_tradie_id', 'recovery_codes', ['tradie_id'])


def downgrade():
    op.drop_index('ix_recovery_codes_tradie_id', table_name='recovery_codes')
    op.drop_table('recovery_codes')
    op.drop_index('ix_tradies_google_sub', table_name='tradies')
    # Plain DROP COLUMNs (SQLite 3.35+): a batch rebuild of tradies would cascade.
    op.drop_column('tradies', 'phone_code_attempts')
    for name, _type in reversed(NEW_COLUMNS):
        op.drop_column('tradies', name)
