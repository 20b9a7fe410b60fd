"""auth: a per-tradie session token, rotated to end every session and remember-me cookie

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:00:00.000000

"""
import secrets

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    # SQLite cannot add a NOT NULL column without a default, and rebuilding `tradies` in batch
    # mode would cascade-delete every row that references it; so: a temporary empty default,
    # a random token for each existing tradie, then the default goes where the database can
    # drop it (the model always supplies a token, and an empty one never signs anybody in).
    op.add_column(
        'tradies',
        sa.Column('session_token', sa.String(length=64), nullable=False, server_default=''),
    )
    tradies = sa.table(
        'tradies', sa.column('id', sa.Integer), sa.column('session_token', sa.String)
    )
    bind = op.get_bind()
    for (tradie_id,) in bind.execute(sa.select(tradies.c.id)).all():
        bind.execute(
            tradies.update()
            .where(tradies.c.id == tradie_id)
            .values(session_token=secrets.token_urlsafe(24))
        )
    if bind.dialect.name != 'sqlite':
        op.alter_column('tradies', 'session_token', server_default=None)


def downgrade():
    # A plain DROP COLUMN (SQLite 3.35+): a batch rebuild would cascade like the upgrade's would.
    op.drop_column('tradies', 'session_token')
