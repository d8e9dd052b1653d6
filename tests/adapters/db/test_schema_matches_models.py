"""The migrations build the schema the ORM models describe: after `upgrade head`, Alembic's comparison of the
database with the models finds no missing or extra table, column, index or constraint (a model changed without
its migration, or a migration without its model, fails here), and downgrading the last revision then upgrading
again gives the same schema."""
from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from dcc.adapters.db.engine import upgrade
from dcc.adapters.db.models import Base


def _differences(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))
    finally:
        engine.dispose()


def test_migrated_schema_has_what_the_models_describe(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    upgrade(url)
    assert _differences(url) == []


def test_case_foreign_keys_read_by_agendas_are_indexed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    upgrade(url)
    engine = create_engine(url)
    try:
        indexed = {(t, tuple(ix["column_names"])) for t in ("rcp_case", "decision")
                   for ix in inspect(engine).get_indexes(t)}
    finally:
        engine.dispose()
    assert {("rcp_case", ("session_id",)), ("rcp_case", ("patient_id",)), ("decision", ("session_id",))} <= indexed


def test_last_revision_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    from alembic import command

    from dcc.adapters.db.engine import alembic_config

    url = f"sqlite:///{tmp_path / 'schema.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "-1")
    assert _differences(url) != []  # the last revision's indexes are gone
    upgrade(url)
    assert _differences(url) == []
