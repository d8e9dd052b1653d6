"""referential_search: a cheaper prefix table, so that importing a 40,000-code terminology takes seconds again.

referential_prefix keeps one index, its primary key (system, prefix, penalty, label_len, concept_id), which is
also the order a query reads (a word's concepts best first); the former primary key (system, prefix,
concept_id), the concept index and the foreign key go (their upkeep, ~1.4 million rows for a CIM-10-sized
referential, made an import take minutes). SQLite stores the table WITHOUT ROWID. The multi-word search now
probes a candidate's tokens through ix_referential_token_concept, so the token table's lookup index, which no
query reads any more, goes too. The table is rebuilt from the token table in SQL, as 0010 filled it.

Revision ID: 0011_referential_search
Revises: 0010_referential_prefix
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_referential_search"
down_revision: str | None = "0010_referential_prefix"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILL = """
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 80)
    INSERT INTO referential_prefix (system, prefix, concept_id, penalty, label_len)
    SELECT t.system, substr(t.token, 1, n.i), t.concept_id,
           min(40 - t.weight * 10 - CASE WHEN length(t.token) = n.i THEN 5 ELSE 0 END), max(t.label_len)
    FROM referential_token t JOIN n ON n.i <= length(t.token)
    GROUP BY t.system, substr(t.token, 1, n.i), t.concept_id
"""


def _token() -> sa.types.TypeEngine[str]:
    return sa.String(80).with_variant(sa.String(80, collation="C"), "postgresql")


def upgrade() -> None:
    op.drop_table("referential_prefix")
    op.create_table(
        "referential_prefix",
        sa.Column("system", sa.String(80), nullable=False),
        sa.Column("prefix", _token(), nullable=False),
        sa.Column("penalty", sa.Integer(), nullable=False),
        sa.Column("label_len", sa.Integer(), nullable=False),
        sa.Column("concept_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("system", "prefix", "penalty", "label_len", "concept_id",
                                name="pk_referential_prefix"),
        sqlite_with_rowid=False,
    )
    op.execute(FILL)
    op.drop_index("ix_referential_token_lookup", table_name="referential_token")


def downgrade() -> None:
    op.create_index("ix_referential_token_lookup", "referential_token",
                    ["system", "token", "concept_id", "weight", "label_len"])
    op.drop_table("referential_prefix")
    op.create_table(
        "referential_prefix",
        sa.Column("system", sa.String(80), nullable=False),
        sa.Column("prefix", _token(), nullable=False),
        sa.Column("concept_id", sa.Integer(), nullable=False),
        sa.Column("penalty", sa.Integer(), nullable=False),
        sa.Column("label_len", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("system", "prefix", "concept_id", name="pk_referential_prefix"),
        sa.ForeignKeyConstraint(["concept_id"], ["referential_concept.id"], ondelete="CASCADE",
                                name="fk_referential_prefix_concept_id_referential_concept"),
    )
    op.execute(FILL)
    op.create_index("ix_referential_prefix_rank", "referential_prefix",
                    ["system", "prefix", "penalty", "label_len", "concept_id"])
    op.create_index("ix_referential_prefix_concept", "referential_prefix", ["concept_id"])
