"""usage roll-ups per day, and per hour and day summed by model and by key, filled from the hourly ones

Revision ID: c3d1f0a7b2e4
Revises: abc595a8c9cd
Create Date: 2026-12-05 07:50:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel.sql.sqltypes.AutoString)


# revision identifiers, used by Alembic.
revision: str = 'c3d1f0a7b2e4'
down_revision: Union[str, Sequence[str], None] = 'abc595a8c9cd'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

SUMMED = ("requests", "input_tokens", "output_tokens", "billed_nanos", "cost_nanos")
DIMENSIONS = {"project_id": sa.String(length=40), "api_key_id": sa.String(length=40), "model_id": sa.String(length=100)}
# table: (bucket column, hours per bucket, dimensions kept apart)
TABLES = {
    "usage_hour_by_model": ("hour", 1, ("model_id", "project_id")),
    "usage_hour_by_key": ("hour", 1, ("api_key_id", "project_id")),
    "usage_day": ("day", 24, ("project_id", "api_key_id", "model_id")),
    "usage_day_by_model": ("day", 24, ("model_id", "project_id")),
    "usage_day_by_key": ("day", 24, ("api_key_id", "project_id")),
}


def upgrade() -> None:
    """Upgrade schema."""
    for name, (bucket, hours, dimensions) in TABLES.items():
        op.create_table(
            name,
            sa.Column('organization_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
            *[sa.Column(summed, sa.BigInteger(), nullable=False) for summed in SUMMED],
            *[sa.Column(dimension, DIMENSIONS[dimension], nullable=False) for dimension in dimensions],
            sa.Column(bucket, sa.Integer(), autoincrement=False, nullable=False),
            sa.PrimaryKeyConstraint('organization_id', bucket, *dimensions),
        )
        # the usage already recorded, summed from the hours (integer division floors: hours are never negative)
        keys = ", ".join(dimensions)
        op.execute(
            f"INSERT INTO {name} (organization_id, {bucket}, {keys}, {', '.join(SUMMED)}) "
            f"SELECT organization_id, hour / {hours}, {keys}, {', '.join(f'SUM({s})' for s in SUMMED)} "
            f"FROM usage_hour GROUP BY organization_id, hour / {hours}, {keys}"
        )


def downgrade() -> None:
    """Downgrade schema."""
    for name in reversed(TABLES):
        op.drop_table(name)
