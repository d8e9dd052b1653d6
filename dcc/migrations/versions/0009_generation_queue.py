"""generation queue: the "documents due" rows a session's validation writes (drained by a Prefect flow)

One row per quorate decided case, written in the validation's transaction; its state keeps to
dcc.domain.states.GenerationState (a CHECK constraint, created with the table on both dialects).

Revision ID: 0009_generation_queue
Revises: 0008_states
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_generation_queue"
down_revision: str | None = "0009_meeting_guests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = ("pending", "leased", "done", "dead")


def upgrade() -> None:
    op.create_table(
        "generation_task",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("board_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=60), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"state IN ({', '.join(repr(s) for s in STATES)})", name=op.f("ck_generation_task_state")),
        sa.ForeignKeyConstraint(["case_id"], ["rcp_case.id"], name=op.f("fk_generation_task_case_id_rcp_case")),
        sa.ForeignKeyConstraint(["session_id"], ["session.id"], name=op.f("fk_generation_task_session_id_session")),
        sa.ForeignKeyConstraint(["board_id"], ["board.id"], name=op.f("fk_generation_task_board_id_board")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generation_task")),
        sa.UniqueConstraint("case_id", name=op.f("uq_generation_task_case_id")),
    )
    op.create_index("ix_generation_task_state_next", "generation_task", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_generation_task_state_next", table_name="generation_task")
    op.drop_table("generation_task")
