"""users and access: app_user, break_glass, audit_head; audit_event made append-only

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:00:00

- app_user: who logs in, with a role (coordinator | physician | monitor | admin) and a scope (region,
  establishment), linked to the directory (professional) for physicians;
- break_glass: time-limited access of a physician outside the care team, with its coded and free-text reason;
- audit_head: one row holding the last audit entry's id, hash and the entry count, updated with every append
  (truncation of the chain's tail is detected; writers are serialised on that row). Initialised from the
  existing log;
- audit_event: UPDATE and DELETE refused by triggers (append-only in the database itself).
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_MESSAGE = 'journal d audit en ajout seul'


def upgrade() -> None:
    op.create_table(
        'app_user',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('login', sa.String(length=60), nullable=False),
        sa.Column('role', sa.String(length=12), nullable=False),
        sa.Column('region_id', sa.String(length=36), nullable=True),
        sa.Column('establishment_id', sa.String(length=36), nullable=True),
        sa.Column('professional_id', sa.String(length=36), nullable=True),
        sa.Column('display_name', sa.String(length=200), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['region_id'], ['region.id'], name=op.f('fk_app_user_region_id_region')),
        sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'],
                                name=op.f('fk_app_user_establishment_id_establishment')),
        sa.ForeignKeyConstraint(['professional_id'], ['professional.id'],
                                name=op.f('fk_app_user_professional_id_professional')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
        sa.UniqueConstraint('login', name=op.f('uq_app_user_login')),
        sa.UniqueConstraint('professional_id', name=op.f('uq_app_user_professional_id')),
        sa.CheckConstraint("role IN ('coordinator', 'physician', 'monitor', 'admin')", name='role'),
    )
    op.create_table(
        'break_glass',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('user_id', sa.String(length=36), nullable=False),
        sa.Column('patient_id', sa.String(length=36), nullable=False),
        sa.Column('reason_code', sa.String(length=20), nullable=False),
        sa.Column('reason_text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_break_glass_user_id_app_user')),
        sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_break_glass_patient_id_patient')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_break_glass')),
    )
    op.create_index('ix_break_glass_user_patient', 'break_glass', ['user_id', 'patient_id'])
    op.create_table(
        'audit_head',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('last_id', sa.Integer(), nullable=False),
        sa.Column('last_hash', sa.String(length=64), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head')),
    )
    op.execute(
        "INSERT INTO audit_head (id, last_id, last_hash, count) SELECT 1, "
        "COALESCE((SELECT MAX(id) FROM audit_event), 0), "
        "COALESCE((SELECT hash FROM audit_event WHERE id = (SELECT MAX(id) FROM audit_event)), ''), "
        "(SELECT COUNT(*) FROM audit_event)"
    )
    _create_append_only_triggers()


def _create_append_only_triggers() -> None:
    if op.get_bind().dialect.name == 'sqlite':
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


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('DROP TRIGGER IF EXISTS audit_event_append_only_update')
        op.execute('DROP TRIGGER IF EXISTS audit_event_append_only_delete')
    else:
        op.execute('DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event')
        op.execute('DROP FUNCTION IF EXISTS dcc_audit_append_only()')
    op.drop_table('audit_head')
    op.drop_index('ix_break_glass_user_patient', table_name='break_glass')
    op.drop_table('break_glass')
    op.drop_table('app_user')
