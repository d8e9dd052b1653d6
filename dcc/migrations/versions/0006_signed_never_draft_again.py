"""document: a signed document never goes back to draft

The immutability triggers of 0001 only guard documents whose status is not `draft`: setting a signed
document's status back to `draft` (raw SQL) would have freed its bytes for a second UPDATE. The status may
still move on (signed -> delivered / failed / superseded), never back to `draft`.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IMMUTABLE_MESSAGE = "document signe immuable"  # the message the application maps to ImmutableDocument

_PG_FUNCTION = """
    CREATE OR REPLACE FUNCTION dcc_document_immutable() RETURNS trigger AS $$
    BEGIN
        IF OLD.status <> 'draft' THEN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION '{message}' USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            IF NEW.cda IS DISTINCT FROM OLD.cda OR NEW.pdf IS DISTINCT FROM OLD.pdf
               OR NEW.sha256 IS DISTINCT FROM OLD.sha256 OR NEW.pdf_sha256 IS DISTINCT FROM OLD.pdf_sha256
               OR NEW.unique_id IS DISTINCT FROM OLD.unique_id OR NEW.signer_id IS DISTINCT FROM OLD.signer_id
               OR NEW.signed_at IS DISTINCT FROM OLD.signed_at OR NEW.set_id IS DISTINCT FROM OLD.set_id
               OR NEW.version IS DISTINCT FROM OLD.version {extra} THEN
                RAISE EXCEPTION '{message}' USING ERRCODE = 'integrity_constraint_violation';
            END IF;
        END IF;
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END $$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"""
            CREATE TRIGGER document_never_draft_again BEFORE UPDATE OF status ON document
            WHEN OLD.status != 'draft' AND NEW.status = 'draft'
            BEGIN SELECT RAISE(ABORT, '{IMMUTABLE_MESSAGE}'); END
        """)
    else:
        op.execute(_PG_FUNCTION.format(message=IMMUTABLE_MESSAGE, extra="OR NEW.status = 'draft'"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS document_never_draft_again")
    else:
        op.execute(_PG_FUNCTION.format(message=IMMUTABLE_MESSAGE, extra=""))
