"""document link key: the key signing receipt and statement links, shared by every process

Revision ID: b7e2d9c41f06
Revises: e71b9c4d2a10
Create Date: 2026-12-05 10:00:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = 'b7e2d9c41f06'
down_revision: Union[str, Sequence[str], None] = 'e71b9c4d2a10'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'document_link_key',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('secret', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('document_link_key')
