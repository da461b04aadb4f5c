"""usage request ids per organization, one request per admission

A request id is the fleet's own, unique within an organization: the primary key becomes
(organization_id, request_id), so one organization's id never marks another's report a
duplicate. The admission's nonce is kept and unique per organization: one admission bills
one request.

Revision ID: 5786316665b7
Revises: 5ab645274554
Create Date: 2026-12-05 06:35:02.624627

"""
import warnings
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel.sql.sqltypes.AutoString)


# revision identifiers, used by Alembic.
revision: str = '5786316665b7'
down_revision: Union[str, Sequence[str], None] = '5ab645274554'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _primary_key(*columns: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("usage_record_pkey", "usage_record", type_="primary")
        op.create_primary_key("usage_record_pkey", "usage_record", list(columns))
    else:  # SQLite cannot alter a primary key: the table is copied with the new one
        with warnings.catch_warnings():
            # SQLAlchemy notes that the copy's key differs from the reflected one: that is the point
            warnings.filterwarnings("ignore", message=".*primary_key=True, not matching", category=sa.exc.SAWarning)
            with op.batch_alter_table("usage_record", recreate="always") as batch_op:
                batch_op.create_primary_key("usage_record_pkey", list(columns))


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('usage_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('admission_nonce', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.create_index('ux_usage_record_admission', ['organization_id', 'admission_nonce'], unique=True)
    _primary_key("organization_id", "request_id")


def downgrade() -> None:
    """Downgrade schema."""
    _primary_key("request_id")  # fails if two organizations used the same request id meanwhile
    with op.batch_alter_table('usage_record', schema=None) as batch_op:
        batch_op.drop_index('ux_usage_record_admission')
        batch_op.drop_column('admission_nonce')
