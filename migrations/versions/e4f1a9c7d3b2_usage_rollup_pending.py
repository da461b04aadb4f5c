"""usage rollup pending: a usage group's sums, left for the fold into the roll-ups

Revision ID: e4f1a9c7d3b2
Revises: d5a8c3e1f7b0
Create Date: 2026-12-05 15:40:00.000000

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'e4f1a9c7d3b2'
down_revision: Union[str, Sequence[str], None] = 'd5a8c3e1f7b0'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'usage_rollup_pending',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('minute', sa.Integer(), nullable=False),
        sa.Column('deltas', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('usage_rollup_pending')
