"""webhook event payloads: kept with each event, failed handlings recorded, for replays

Revision ID: abc595a8c9cd
Revises: 5786316665b7
Create Date: 2026-12-05 08:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'abc595a8c9cd'
down_revision: Union[str, Sequence[str], None] = '5786316665b7'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('processed_webhook_event') as batch:
        batch.add_column(sa.Column('failed', sa.Boolean(), nullable=False, server_default=sa.false()))
        # events handled before have no payload: they cannot be replayed
        batch.add_column(sa.Column('payload', sa.JSON(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('processed_webhook_event') as batch:
        batch.drop_column('payload')
        batch.drop_column('failed')
