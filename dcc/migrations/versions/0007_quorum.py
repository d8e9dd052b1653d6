"""case: link a re-presented case entry to the entry it re-presents (session without quorum)

INCa (référentiel organisationnel RCP, 2023): a valid RCP needs its quorum; a case discussed (or registered)
at a session without quorum is re-presented at a later session. The new entry names the old one
(`represented_from_id`); the old one gets the status `represented`.

Revision ID: 0007_quorum
Revises: 0006
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_quorum"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rcp_case") as batch:
        batch.add_column(sa.Column("represented_from_id", sa.String(36), nullable=True))
        batch.create_foreign_key("fk_rcp_case_represented_from_id_rcp_case", "rcp_case",
                                 ["represented_from_id"], ["id"])
        batch.create_index("ix_rcp_case_represented_from_id", ["represented_from_id"])


def downgrade() -> None:
    with op.batch_alter_table("rcp_case") as batch:
        batch.drop_index("ix_rcp_case_represented_from_id")
        batch.drop_constraint("fk_rcp_case_represented_from_id_rcp_case", type_="foreignkey")
        batch.drop_column("represented_from_id")
