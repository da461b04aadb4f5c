"""subscription list index: an organization's subscriptions in the list's order

Revision ID: d5a8c3e1f7b0
Revises: b7e2d9c41f06
Create Date: 2026-12-05 12:40:00.000000

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = 'd5a8c3e1f7b0'
down_revision: Union[str, Sequence[str], None] = 'b7e2d9c41f06'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.create_index('ix_subscription_org_created', ['organization_id', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.drop_index('ix_subscription_org_created')
