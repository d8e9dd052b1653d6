"""attachment sharing: the N1 document a physician shared an attachment as (at most one per attachment).

Revision ID: 0010_attachment_sharing
Revises: 0009_generation_queue
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_attachment_sharing"
down_revision: str | None = "0010_minor_secret"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attachment") as batch:
        batch.add_column(sa.Column("shared_document_id", sa.String(36), nullable=True))
        batch.create_foreign_key("fk_attachment_shared_document_id_document", "document",
                                 ["shared_document_id"], ["id"])
        batch.create_unique_constraint("uq_attachment_shared_document_id", ["shared_document_id"])


def downgrade() -> None:
    with op.batch_alter_table("attachment") as batch:
        batch.drop_constraint("uq_attachment_shared_document_id", type_="unique")
        batch.drop_constraint("fk_attachment_shared_document_id_document", type_="foreignkey")
        batch.drop_column("shared_document_id")
