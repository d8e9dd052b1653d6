"""case: tumour model (TNM edition and stage group, laterality of a paired organ, date of diagnosis)

Revision ID: 0007_tumour
Revises: 0006
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_tumour"
down_revision: str | None = "0007_load"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rcp_case") as batch:
        batch.add_column(sa.Column("tnm_edition", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tnm_stage", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("laterality", sa.String(length=12), nullable=True))
        batch.add_column(sa.Column("diagnosis_date", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rcp_case") as batch:
        batch.drop_column("diagnosis_date")
        batch.drop_column("laterality")
        batch.drop_column("tnm_stage")
        batch.drop_column("tnm_edition")
