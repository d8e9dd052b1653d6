"""case_indexes: index the foreign keys that the session agenda, the sessions' load counts and the case page
filter on (rcp_case.session_id and .patient_id, decision.session_id); without them those reads scan the table.

Revision ID: 0012_case_indexes
Revises: 0011_proposal_entries
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012_case_indexes"
down_revision: str | None = "0011_proposal_entries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (("ix_rcp_case_session_id", "rcp_case", "session_id"), ("ix_rcp_case_patient_id", "rcp_case", "patient_id"),
           ("ix_decision_session_id", "decision", "session_id"))


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
