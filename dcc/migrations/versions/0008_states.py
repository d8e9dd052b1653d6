"""states: the case, session, document and outbox states keep to their enums (dcc.domain.states)

PostgreSQL: CHECK constraints. SQLite cannot add a CHECK constraint without copying the table, which would
drop the immutability triggers of `document`: there, BEFORE INSERT / UPDATE triggers refuse the same values.
The values are written out here (a migration never imports the code it migrates).

Revision ID: 0008_states
Revises: 0007_pps
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008_states"
down_revision: str | None = "0007_pps"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = {
    ("rcp_case", "status"): ("pending", "assigned", "decided", "represented"),
    ("session", "status"): ("planned", "held", "validated", "cancelled"),
    ("document", "status"): ("draft", "signed", "delivered", "failed", "superseded"),
    ("outbox_message", "state"): ("pending", "delivered", "dead", "held", "blocked"),
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for (table, column), values in STATES.items():
        if not sqlite:
            op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "ck_{table}_{column}" CHECK ({_in(column, values)})')
            continue
        for event in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER ck_{table}_{column}_{event.lower()} BEFORE {event} ON {table} "
                f"WHEN NOT (NEW.{_in(column, values)}) "
                f"BEGIN SELECT RAISE(ABORT, 'ck_{table}_{column}: state outside its enum'); END"
            )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column in STATES:
        if not sqlite:
            op.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "ck_{table}_{column}"')
            continue
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER ck_{table}_{column}_{event}")
