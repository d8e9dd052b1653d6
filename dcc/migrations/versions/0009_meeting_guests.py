"""meeting_guest: the guests of a session's sign-in sheet (external experts, residents…)

Guests attend the discussion but never count for the quorum: only the board's members (attendance) do.

Revision ID: 0009_meeting_guests
Revises: 0008_states
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_meeting_guests"
down_revision: str | None = "0009_calendar_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meeting_guest",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("session_id", sa.String(36), sa.ForeignKey("session.id", name="fk_meeting_guest_session_id_session"),
                  nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("affiliation", sa.String(200), nullable=False, server_default=""),
        sa.Column("mode", sa.String(10), nullable=False, server_default="present"),
        sa.Column("created_by", sa.String(100), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_meeting_guest"),
    )
    op.create_index("ix_meeting_guest_session_id", "meeting_guest", ["session_id"])


def downgrade() -> None:
    op.drop_index("ix_meeting_guest_session_id", table_name="meeting_guest")
    op.drop_table("meeting_guest")
