"""payments: how a payment was made when it was not through Stripe (cash, bank transfer)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('payments', sa.Column('method', sa.String(length=20), nullable=True))


def downgrade():
    op.drop_column('payments', 'method')
