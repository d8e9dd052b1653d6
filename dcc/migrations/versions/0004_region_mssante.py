"""region: MSSanté relay and sending mailbox (signed documents sent to the GP and correspondents)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 10:00:00

- region.mss_relay: SMTP relay of the region's secure-messaging operator, `smtp://host:port` (empty: secure
  messaging disabled for the region);
- region.mss_sender: the sending mailbox (e.g. `rcp@<finess>.mssante.fr`).

Plain ALTER TABLE ADD COLUMN (no batch copy): nothing else in the table is touched.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('region', sa.Column('mss_relay', sa.String(length=300), nullable=False, server_default=''))
    op.add_column('region', sa.Column('mss_sender', sa.String(length=200), nullable=False, server_default=''))


def downgrade() -> None:
    # SQLite >= 3.35 supports ALTER TABLE DROP COLUMN (no batch copy needed)
    op.drop_column('region', 'mss_sender')
    op.drop_column('region', 'mss_relay')
