"""delivery: message kind, hold reason, frozen confidentiality; document visibility; attempt owner

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:00:00

- outbox_message: `kind` (submit | metadata_update), `hold_reason`, `confidentiality` (extra codes frozen at
  the first attempt), and the unique constraint widened to (document_id, destination, kind);
- document: `announced_at`, `masked_ps` (added in place: the table keeps its immutability triggers);
- delivery_attempt: `owner`, `started_at`.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UQ = 'uq_outbox_message_document_id'


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    # document: plain ALTER TABLE ADD COLUMN (never a batch copy, which would drop the triggers)
    op.add_column('document', sa.Column('announced_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('document', sa.Column('masked_ps', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('delivery_attempt', sa.Column('owner', sa.String(length=60), nullable=False,
                                                server_default=''))
    op.add_column('delivery_attempt', sa.Column('started_at', sa.DateTime(timezone=True), nullable=True))
    if sqlite:
        # the batch copy drops and renames outbox_message, which delivery_attempt references
        op.execute('PRAGMA defer_foreign_keys = ON')
    with op.batch_alter_table('outbox_message') as batch:
        batch.add_column(sa.Column('kind', sa.String(length=20), nullable=False, server_default='submit'))
        batch.add_column(sa.Column('hold_reason', sa.Text(), nullable=False, server_default=''))
        batch.add_column(sa.Column('confidentiality', sa.String(length=200), nullable=True))
        batch.drop_constraint(UQ, type_='unique')
        batch.create_unique_constraint(UQ, ['document_id', 'destination', 'kind'])
    op.create_index('ix_outbox_message_state_next', 'outbox_message', ['state', 'next_attempt_at'])
    op.create_index('ix_delivery_attempt_message_id', 'delivery_attempt', ['message_id'])


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    op.drop_index('ix_delivery_attempt_message_id', table_name='delivery_attempt')
    op.drop_index('ix_outbox_message_state_next', table_name='outbox_message')
    op.execute("DELETE FROM delivery_attempt WHERE message_id IN "
               "(SELECT id FROM outbox_message WHERE kind <> 'submit')")
    op.execute("DELETE FROM outbox_message WHERE kind <> 'submit'")
    if sqlite:
        op.execute('PRAGMA defer_foreign_keys = ON')
    with op.batch_alter_table('outbox_message') as batch:
        batch.drop_constraint(UQ, type_='unique')
        batch.create_unique_constraint(UQ, ['document_id', 'destination'])
        batch.drop_column('confidentiality')
        batch.drop_column('hold_reason')
        batch.drop_column('kind')
    with op.batch_alter_table('delivery_attempt') as batch:
        batch.drop_column('started_at')
        batch.drop_column('owner')
    op.drop_column('document', 'masked_ps')
    op.drop_column('document', 'announced_at')
