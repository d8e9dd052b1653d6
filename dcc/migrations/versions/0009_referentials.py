"""referentials: imported versions of value sets and terminologies, their concepts, a search token table,
and the catalogue of regional guidelines. The baseline (the package's value sets) is loaded by
`dcc db upgrade` through the referentials service, not here (a migration never imports the code it migrates).

Revision ID: 0009_referentials
Revises: 0008_states
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_referentials"
down_revision: str | None = "0008_states"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "referential_version",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("system", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("oid", sa.String(80), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("version", sa.String(60), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=True),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("concept_count", sa.Integer(), nullable=False),
        sa.Column("diff", sa.JSON(), nullable=False),
        sa.Column("imported_by", sa.String(100), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_referential_version"),
    )
    op.create_index("ix_referential_version_system", "referential_version", ["system", "imported_at"])
    op.create_table(
        "referential_concept",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("system", sa.String(80), nullable=False),
        sa.Column("code", sa.String(80), nullable=False),
        sa.Column("code_system", sa.String(80), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version_id", sa.String(36), nullable=False),
        sa.Column("retired_version_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_referential_concept"),
        sa.UniqueConstraint("system", "code", name="uq_referential_concept_system"),
        sa.ForeignKeyConstraint(["version_id"], ["referential_version.id"],
                                name="fk_referential_concept_version_id_referential_version"),
        sa.ForeignKeyConstraint(["retired_version_id"], ["referential_version.id"],
                                name="fk_referential_concept_retired_version_id_referential_version"),
    )
    op.create_index("ix_referential_concept_active", "referential_concept", ["active", "code"])
    token = sa.String(80).with_variant(sa.String(80, collation="C"), "postgresql")
    op.create_table(
        "referential_token",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("system", sa.String(80), nullable=False),
        sa.Column("token", token, nullable=False),
        sa.Column("concept_id", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("label_len", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_referential_token"),
        sa.ForeignKeyConstraint(["concept_id"], ["referential_concept.id"], ondelete="CASCADE",
                                name="fk_referential_token_concept_id_referential_concept"),
    )
    op.create_index("ix_referential_token_lookup", "referential_token",
                    ["system", "token", "concept_id", "weight", "label_len"])
    op.create_index("ix_referential_token_concept", "referential_token", ["concept_id", "token", "weight"])
    op.create_table(
        "regional_guideline",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("guideline_date", sa.Date(), nullable=False),
        sa.Column("organ", sa.String(40), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_regional_guideline"),
        sa.UniqueConstraint("name", "version", name="uq_regional_guideline_name"),
        sa.ForeignKeyConstraint(["version_id"], ["referential_version.id"],
                                name="fk_regional_guideline_version_id_referential_version"),
    )


def downgrade() -> None:
    op.drop_table("regional_guideline")
    op.drop_index("ix_referential_token_concept", table_name="referential_token")
    op.drop_index("ix_referential_token_lookup", table_name="referential_token")
    op.drop_table("referential_token")
    op.drop_index("ix_referential_concept_active", table_name="referential_concept")
    op.drop_table("referential_concept")
    op.drop_index("ix_referential_version_system", table_name="referential_version")
    op.drop_table("referential_version")
