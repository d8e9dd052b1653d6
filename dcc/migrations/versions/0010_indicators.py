"""indicators: the regional network's monthly indicators, and the first-treatment date of a case

- `indicator_month`: one row per board × month (Europe/Paris), written by the nightly `compute_indicators`
  flow (dcc.services.indicator_table); re-running a month replaces its rows. Delays are kept as the list of
  day counts so that an establishment's or a region's median and p90 are computed exactly.
- `rcp_case.first_treatment_date` (+ who recorded it, when): entered afterwards by the care team or imported;
  empty means not known (« non renseigné »), never imputed.

Revision ID: 0010_indicators
Revises: 0009_generation_queue
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_indicators"
down_revision: str | None = "0010_attachment_sharing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = ("new_cases", "re_presentations", "sessions_held", "quorum_met", "quorum_unknown", "opinions", "discussed",
          "registered_only", "conform_yes", "conform_no", "conform_missing", "trial_proposed",
          "before_treatment", "after_treatment", "treatment_missing", "diagnosis_missing", "dmp_expected",
          "dmp_within_7d", "dmp_late", "dmp_not_delivered", "dead_letters")


def upgrade() -> None:
    op.create_table(
        "indicator_month",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("board_id", sa.String(length=36), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        sa.Column("delays_diagnosis_rcp", sa.JSON(), nullable=False),
        sa.Column("delays_rcp_treatment", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["board_id"], ["board.id"], name=op.f("fk_indicator_month_board_id_board")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_month")),
        sa.UniqueConstraint("board_id", "month", name=op.f("uq_indicator_month_board_id")),
    )
    op.create_index("ix_indicator_month_month", "indicator_month", ["month"])
    op.add_column("rcp_case", sa.Column("first_treatment_date", sa.Date(), nullable=True))
    op.add_column("rcp_case", sa.Column("first_treatment_by", sa.String(length=100), nullable=True))
    op.add_column("rcp_case", sa.Column("first_treatment_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rcp_case") as batch:
        batch.drop_column("first_treatment_at")
        batch.drop_column("first_treatment_by")
        batch.drop_column("first_treatment_date")
    op.drop_index("ix_indicator_month_month", table_name="indicator_month")
    op.drop_table("indicator_month")
