"""members page index: memberships by organization in the page's order

Revision ID: e71b9c4d2a10
Revises: c3d1f0a7b2e4
Create Date: 2026-12-05 08:00:00.000000

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = 'e71b9c4d2a10'
down_revision: Union[str, Sequence[str], None] = 'c3d1f0a7b2e4'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.create_index('ix_membership_org_joined', ['organization_id', 'created_at', 'user_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_index('ix_membership_org_joined')
