"""proposal_entries: the drugs (ATC or UCD) and acts (CCAM) a board's proposal names, as coded entries with the
referential version in force when they were entered (a JSON list on the decision; empty for older decisions).

Revision ID: 0011_proposal_entries
Revises: 0011_referential_search
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_proposal_entries"
down_revision: str | None = "0011_referential_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("decision") as batch:
        batch.add_column(sa.Column("proposal_entries", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table("decision") as batch:
        batch.drop_column("proposal_entries")
