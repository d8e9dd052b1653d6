"""minor's secret: a minor patient's choice that their documents stay invisible to their legal representatives

`patient.secret_from_legal_representatives` (CSP art. L1111-5; DMP integration guide EX_2.1-1050: each document
of a minor says whether it is visible to the legal representatives): documents are then sent with the
confidentiality code INVISIBLE_REPRESENTANTS_LEGAUX.

Revision ID: 0010_minor_secret
Revises: 0009_generation_queue
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_minor_secret"
down_revision: str | None = "0009_generation_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('patient', sa.Column('secret_from_legal_representatives', sa.Boolean(), nullable=False,
                                       server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('patient') as batch:
        batch.drop_column('secret_from_legal_representatives')
