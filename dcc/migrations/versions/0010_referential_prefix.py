"""referential_prefix: the search index by prefix (one row per concept and prefix of one of its tokens, with
the concept's rank for that prefix), so that a form's search reads a word's best concepts first and stops
after the first results instead of ranking every concept the word matches. Filled here from the existing
token table in SQL (a recursive CTE of lengths 1..80, PostgreSQL and SQLite alike).

Revision ID: 0010_referential_prefix
Revises: 0009_generation_queue
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_referential_prefix"
down_revision: str | None = "0010_indicators"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    token = sa.String(80).with_variant(sa.String(80, collation="C"), "postgresql")
    op.create_table(
        "referential_prefix",
        sa.Column("system", sa.String(80), nullable=False),
        sa.Column("prefix", token, nullable=False),
        sa.Column("concept_id", sa.Integer(), nullable=False),
        sa.Column("penalty", sa.Integer(), nullable=False),
        sa.Column("label_len", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("system", "prefix", "concept_id", name="pk_referential_prefix"),
        sa.ForeignKeyConstraint(["concept_id"], ["referential_concept.id"], ondelete="CASCADE",
                                name="fk_referential_prefix_concept_id_referential_concept"),
    )
    # penalty = 40 - (weight * 10 + 5 when the token is the whole prefix): the best token of the concept wins
    op.execute("""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 80)
        INSERT INTO referential_prefix (system, prefix, concept_id, penalty, label_len)
        SELECT t.system, substr(t.token, 1, n.i), t.concept_id,
               min(40 - t.weight * 10 - CASE WHEN length(t.token) = n.i THEN 5 ELSE 0 END), max(t.label_len)
        FROM referential_token t JOIN n ON n.i <= length(t.token)
        GROUP BY t.system, substr(t.token, 1, n.i), t.concept_id
    """)
    op.create_index("ix_referential_prefix_rank", "referential_prefix",
                    ["system", "prefix", "penalty", "label_len", "concept_id"])
    op.create_index("ix_referential_prefix_concept", "referential_prefix", ["concept_id"])


def downgrade() -> None:
    op.drop_index("ix_referential_prefix_concept", table_name="referential_prefix")
    op.drop_index("ix_referential_prefix_rank", table_name="referential_prefix")
    op.drop_table("referential_prefix")
