"""stripe for real money: charge retries with back-off, forgotten customers, dispute holds, refund status

Revision ID: c3d1f5a7b9e2
Revises: 1926abccebdd
Create Date: 2026-12-05 07:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel.sql.sqltypes.AutoString)


# revision identifiers, used by Alembic.
revision: str = 'c3d1f5a7b9e2'
down_revision: Union[str, Sequence[str], None] = '1926abccebdd'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('charge') as batch:
        batch.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('billing_account') as batch:
        batch.add_column(sa.Column('customer_ref_forgotten', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
    with op.batch_alter_table('charge_dispute') as batch:
        batch.add_column(sa.Column('grant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch.add_column(sa.Column('held_nanos', sa.BigInteger(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key('fk_charge_dispute_grant_id_credit_grant', 'credit_grant', ['grant_id'], ['id'])
    with op.batch_alter_table('charge_refund') as batch:
        batch.add_column(sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False, server_default='succeeded'))
        batch.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()))
        batch.create_unique_constraint('uq_charge_refund_provider_refund_ref', ['provider_refund_ref'])
    with op.batch_alter_table('credit_refund_request') as batch:
        batch.add_column(sa.Column('provider_status', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch.create_index('ix_credit_refund_request_refund_ref', ['refund_ref'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('credit_refund_request') as batch:
        batch.drop_index('ix_credit_refund_request_refund_ref')
        batch.drop_column('provider_status')
    with op.batch_alter_table('charge_refund') as batch:
        batch.drop_constraint('uq_charge_refund_provider_refund_ref', type_='unique')
        batch.drop_column('updated_at')
        batch.drop_column('status')
    with op.batch_alter_table('charge_dispute') as batch:
        batch.drop_constraint('fk_charge_dispute_grant_id_credit_grant', type_='foreignkey')
        batch.drop_column('closed_at')
        batch.drop_column('held_nanos')
        batch.drop_column('grant_id')
    with op.batch_alter_table('billing_account') as batch:
        batch.drop_column('customer_ref_forgotten')
    with op.batch_alter_table('charge') as batch:
        batch.drop_column('next_attempt_at')
