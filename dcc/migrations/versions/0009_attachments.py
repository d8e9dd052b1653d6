"""attachments: PDF and JPEG files attached to a case.

Revision ID: 0009_attachments
Revises: 0009_referentials
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_attachments"
down_revision: str | None = "0009_referentials"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attachment",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("patient_id", sa.String(36), nullable=False),
        sa.Column("category", sa.String(12), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("media_type", sa.String(40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("viewer_url", sa.String(500), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_attachment"),
        sa.ForeignKeyConstraint(["case_id"], ["rcp_case.id"], name="fk_attachment_case_id_rcp_case"),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name="fk_attachment_patient_id_patient"),
    )
    op.create_index("ix_attachment_case_id", "attachment", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_attachment_case_id", table_name="attachment")
    op.drop_table("attachment")
