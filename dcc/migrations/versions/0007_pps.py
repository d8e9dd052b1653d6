"""pps: the authored personalised care plan (plan and items) and the coordinating nurse role `ide`

Revision ID: 0007_pps
Revises: 0006
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_pps"
down_revision: str | None = "0007_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ROLES = "role IN ('coordinator', 'physician', 'monitor', 'admin')"
NEW_ROLES = "role IN ('coordinator', 'physician', 'ide', 'monitor', 'admin')"


def _roles(check: str) -> None:
    with op.batch_alter_table("app_user") as batch:  # SQLite: the table is copied with the new CHECK
        batch.drop_constraint(op.f("ck_app_user_role"), type_="check")
        batch.create_check_constraint(op.f("ck_app_user_role"), sa.text(check))


def upgrade() -> None:
    op.create_table(
        "pps_plan",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("decision_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("referent_id", sa.String(length=36), nullable=False),
        sa.Column("contact_name", sa.String(length=200), nullable=False),
        sa.Column("contact_phone", sa.String(length=40), nullable=False),
        sa.Column("handed_at", sa.Date(), nullable=True),
        sa.Column("document_id", sa.String(length=36), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["rcp_case.id"], name="fk_pps_plan_case_id_rcp_case"),
        sa.ForeignKeyConstraint(["decision_id"], ["decision.id"], name="fk_pps_plan_decision_id_decision"),
        sa.ForeignKeyConstraint(["referent_id"], ["professional.id"], name="fk_pps_plan_referent_id_professional"),
        sa.PrimaryKeyConstraint("id", name="pk_pps_plan"),
        sa.UniqueConstraint("case_id", name="uq_pps_plan_case_id"),
    )
    op.create_table(
        "pps_item",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("category", sa.String(length=12), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("start", sa.Date(), nullable=True),
        sa.Column("end", sa.Date(), nullable=True),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("responsible_id", sa.String(length=36), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["pps_plan.id"], name="fk_pps_item_plan_id_pps_plan"),
        sa.ForeignKeyConstraint(["responsible_id"], ["professional.id"],
                                name="fk_pps_item_responsible_id_professional"),
        sa.PrimaryKeyConstraint("id", name="pk_pps_item"),
    )
    op.create_index("ix_pps_item_plan_id", "pps_item", ["plan_id"])
    _roles(NEW_ROLES)


def downgrade() -> None:
    op.execute("DELETE FROM app_user WHERE role = 'ide'")
    _roles(OLD_ROLES)
    op.drop_index("ix_pps_item_plan_id", table_name="pps_item")
    op.drop_table("pps_item")
    op.drop_table("pps_plan")
