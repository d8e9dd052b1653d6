"""audit: write lanes and a sealer instead of one locked head row per append

- audit_event gains `lane`, `lane_seq`, `lane_hash` (set with the entry: its number and hash in the writer's
  lane) and `seal_seq` (its position in the single chain, set once by the sealer with `prev_hash`/`hash`).
  Existing entries are already chained: they get `seal_seq` = their rank by id.
- audit_lane: the number and hash of each lane's last entry (a lane is locked by one transaction at a time).
- The append-only triggers now let exactly one UPDATE through: the sealing of an unsealed entry, which sets
  `seal_seq`, `prev_hash` and `hash` and changes nothing else. audit_lane rows cannot be deleted and their
  number only grows.

Revision ID: 0007_load
Revises: 0006
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_load"
down_revision: str | None = "0007_quorum"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_MESSAGE = 'journal d audit en ajout seul'  # the same message as 0003
CONTENT = ("id", "at", "actor", "action", "entity", "entity_id", "patient_id", "lane", "lane_seq", "lane_hash")


def _sqlite_changed(cols: Sequence[str]) -> str:
    return " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in cols)


def _pg_changed(cols: Sequence[str]) -> str:
    return " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in cols)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        op.execute('DROP TRIGGER IF EXISTS audit_event_append_only_update')
        op.execute('DROP TRIGGER IF EXISTS audit_event_append_only_delete')
    else:
        op.execute('DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event')
    with op.batch_alter_table('audit_event') as batch:
        batch.add_column(sa.Column('lane', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('lane_seq', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('lane_hash', sa.String(length=64), nullable=False, server_default=''))
        batch.add_column(sa.Column('seal_seq', sa.Integer(), nullable=True))
        batch.create_unique_constraint(op.f('uq_audit_event_lane'), ['lane', 'lane_seq'])
        batch.create_index(op.f('ix_audit_event_seal_seq'), ['seal_seq'], unique=False)
    op.create_table(
        'audit_lane',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('last_hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_lane')),
    )
    op.execute("UPDATE audit_event SET seal_seq = (SELECT COUNT(*) FROM audit_event e WHERE e.id <= audit_event.id)")
    if sqlite:
        op.execute(f"""
            CREATE TRIGGER audit_event_append_only_update BEFORE UPDATE ON audit_event
            WHEN OLD.seal_seq IS NOT NULL OR NEW.seal_seq IS NULL OR {_sqlite_changed(CONTENT + ('detail',))}
            BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END
        """)
        op.execute(f"""
            CREATE TRIGGER audit_event_append_only_delete BEFORE DELETE ON audit_event
            BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END
        """)
        op.execute(f"""
            CREATE TRIGGER audit_lane_append_only_update BEFORE UPDATE ON audit_lane
            WHEN NEW.id IS NOT OLD.id OR NEW.seq <= OLD.seq
            BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END
        """)
        op.execute(f"""
            CREATE TRIGGER audit_lane_append_only_delete BEFORE DELETE ON audit_lane
            BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END
        """)
    else:
        op.execute(f"""
            CREATE OR REPLACE FUNCTION dcc_audit_append_only() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'UPDATE' AND OLD.seal_seq IS NULL AND NEW.seal_seq IS NOT NULL
                   AND NOT ({_pg_changed(CONTENT)} OR NEW.detail::text IS DISTINCT FROM OLD.detail::text) THEN
                    RETURN NEW;  -- the sealer chains an entry, once
                END IF;
                RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
            END $$ LANGUAGE plpgsql
        """)
        op.execute("""
            CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
            FOR EACH ROW EXECUTE FUNCTION dcc_audit_append_only()
        """)
        op.execute(f"""
            CREATE FUNCTION dcc_audit_lane_grows() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.seq > OLD.seq THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
            END $$ LANGUAGE plpgsql
        """)
        op.execute("""
            CREATE TRIGGER audit_lane_grows BEFORE UPDATE OR DELETE ON audit_lane
            FOR EACH ROW EXECUTE FUNCTION dcc_audit_lane_grows()
        """)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        for name in ('audit_event_append_only_update', 'audit_event_append_only_delete',
                     'audit_lane_append_only_update', 'audit_lane_append_only_delete'):
            op.execute(f'DROP TRIGGER IF EXISTS {name}')
    else:
        op.execute('DROP TRIGGER IF EXISTS audit_lane_grows ON audit_lane')
        op.execute('DROP FUNCTION IF EXISTS dcc_audit_lane_grows()')
        op.execute('DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event')
        op.execute('DROP FUNCTION IF EXISTS dcc_audit_append_only()')
    op.drop_table('audit_lane')
    with op.batch_alter_table('audit_event') as batch:
        batch.drop_index(op.f('ix_audit_event_seal_seq'))
        batch.drop_constraint(op.f('uq_audit_event_lane'), type_='unique')
        batch.drop_column('seal_seq')
        batch.drop_column('lane_hash')
        batch.drop_column('lane_seq')
        batch.drop_column('lane')
    # 0003's triggers
    if sqlite:
        for operation in ('UPDATE', 'DELETE'):
            op.execute(f"""
                CREATE TRIGGER audit_event_append_only_{operation.lower()} BEFORE {operation} ON audit_event
                BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END
            """)
    else:
        op.execute(f"""
            CREATE FUNCTION dcc_audit_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
            END $$ LANGUAGE plpgsql
        """)
        op.execute("""
            CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
            FOR EACH ROW EXECUTE FUNCTION dcc_audit_append_only()
        """)
