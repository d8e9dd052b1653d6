"""patient: the INS may be absent (not yet retrieved); the patient is then matched on their traits

A patient registered without INS has `ins_matricule` and `ins_oid` NULL (the unique constraint on the pair
ignores NULLs on SQLite and PostgreSQL). Nothing reaches the national record without a qualified INS.

Revision ID: 0007_identity
Revises: 0006
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_identity"
down_revision: str | None = "0007_tumour"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patient") as batch:
        batch.alter_column("ins_matricule", existing_type=sa.String(length=15), nullable=True)
        batch.alter_column("ins_oid", existing_type=sa.String(length=40), nullable=True)


def downgrade() -> None:
    # Patients without INS cannot be kept by the previous schema: downgrading refuses rather than invents.
    bind = op.get_bind()
    count = bind.execute(sa.text("SELECT COUNT(*) FROM patient WHERE ins_matricule IS NULL")).scalar()
    if count:
        raise RuntimeError(f"{count} patient(s) sans INS : retour au schéma 0006 impossible.")
    with op.batch_alter_table("patient") as batch:
        batch.alter_column("ins_matricule", existing_type=sa.String(length=15), nullable=False)
        batch.alter_column("ins_oid", existing_type=sa.String(length=40), nullable=False)
