"""calendar_tokens: the coordinator's pages — revocable calendar subscription tokens, deactivated boards,
withdrawn cases

- `calendar_token`: a per-user read-only token (only its SHA-256 is stored) a calendar client polls without a
  session cookie; revoking it sets `revoked_at`.
- `board.active`: a deactivated board keeps its history but gets no new session nor case.
- `rcp_case.withdrawal_reason` and the `withdrawn` case status (the CHECK constraint of 0008_states, or its
  SQLite triggers, re-created with the new value).

Revision ID: 0009_calendar_tokens
Revises: 0008_states
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_calendar_tokens"
down_revision: str | None = "0009_attachments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CASE_STATUSES = ("pending", "assigned", "decided", "represented", "withdrawn")
CASE_STATUSES_BEFORE = ("pending", "assigned", "decided", "represented")


def _case_status_check(values: tuple[str, ...]) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    allowed = f"status IN ({', '.join(repr(v) for v in values)})"
    if not sqlite:
        op.execute('ALTER TABLE "rcp_case" DROP CONSTRAINT IF EXISTS "ck_rcp_case_status"')
        op.execute(f'ALTER TABLE "rcp_case" ADD CONSTRAINT "ck_rcp_case_status" CHECK ({allowed})')
        return
    for event in ("INSERT", "UPDATE"):
        op.execute(f"DROP TRIGGER IF EXISTS ck_rcp_case_status_{event.lower()}")
        op.execute(
            f"CREATE TRIGGER ck_rcp_case_status_{event.lower()} BEFORE {event} ON rcp_case "
            f"WHEN NOT (NEW.{allowed}) "
            "BEGIN SELECT RAISE(ABORT, 'ck_rcp_case_status: state outside its enum'); END"
        )


def upgrade() -> None:
    op.create_table(
        "calendar_token",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("app_user.id"), nullable=False, index=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("board", sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column("rcp_case", sa.Column("withdrawal_reason", sa.String(500), nullable=False, server_default=""))
    _case_status_check(CASE_STATUSES)


def downgrade() -> None:
    # refused on PostgreSQL while withdrawn cases exist (cases are never deleted to downgrade)
    _case_status_check(CASE_STATUSES_BEFORE)
    with op.batch_alter_table("rcp_case") as batch:
        batch.drop_column("withdrawal_reason")
    with op.batch_alter_table("board") as batch:
        batch.drop_column("active")
    op.drop_table("calendar_token")
