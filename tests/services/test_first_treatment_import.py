"""Import of first-treatment dates (a hospital's export): all or nothing, French reasons per line, audited;
and the `dcc indicators` commands over the same fixture."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from dcc.adapters.db import models as m
from dcc.errors import ValidationFailed
from dcc.services import treatment_start
from dcc.services.uow import Database
from tests.services.test_indicator_table import build

TODAY = date(2026, 4, 10)


def dates(db: Database, ids: dict[str, str], *keys: str) -> list[date | None]:
    with db.uow() as uow:
        return [uow.session.get(m.Case, ids[k]).first_treatment_date for k in keys]  # type: ignore[union-attr]


def test_import_is_all_or_nothing_with_a_reason_per_line(database: Database) -> None:
    ids = build(database)
    content = ("\ufeffdossier;date_premier_traitement\n"
               f"{ids['C4']};2026-03-06\n"          # fine
               f"{ids['C8']};12/04/2026\n"          # after today (10 Apr): refused
               f"{ids['C6']};2026-03-20\n"          # represented: refused
               "inconnu;2026-03-01\n"               # unknown case
               f"{ids['C11']};2026-02-28\n"         # before its diagnosis (1 Mar)
               f"{ids['C5']};le 5 mars\n")          # unreadable date
    with database.uow() as uow:
        with pytest.raises(ValidationFailed) as refused:
            treatment_start.import_first_treatments(uow, content, actor="import", today=TODAY)
    message = refused.value.message
    assert message.startswith("Import refusé, rien n'a été enregistré : ")
    assert "ligne 3 : date dans le futur" in message
    assert "ligne 4 : dossier représenté" in message
    assert "ligne 5 : dossier « inconnu » introuvable" in message
    assert "ligne 6 : date antérieure au diagnostic (01/03/2026)" in message
    assert "ligne 7 : date illisible « le 5 mars »" in message
    assert "ligne 2" not in message
    assert dates(database, ids, "C4", "C8") == [None, date(2026, 4, 2)]  # nothing written (C8 kept its date)


def test_import_records_and_audits(database: Database) -> None:
    ids = build(database)
    content = f"dossier,date_premier_traitement\n{ids['C4']},06/03/2026\n{ids['C11']},2026-03-12\n"
    with database.uow() as uow:
        assert treatment_start.import_first_treatments(uow, content, actor="import", today=TODAY) == 2
    assert dates(database, ids, "C4", "C11") == [date(2026, 3, 6), date(2026, 3, 12)]
    with database.uow() as uow:
        audit = uow.session.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "case.first_treatment")
                                    .order_by(m.AuditEvent.id)).all()
        assert [(a.entity_id, a.detail["after"], a.detail["source"]) for a in audit] == [
            (ids["C4"], "2026-03-06", "import"), (ids["C11"], "2026-03-12", "import")]
    with database.uow() as uow, pytest.raises(ValidationFailed, match="En-tête attendu"):
        treatment_start.import_first_treatments(uow, "numero;date\nx;2026-03-01\n", actor="import", today=TODAY)


@pytest.fixture
def cli_env(sqlite_database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Database]:
    from dcc.bootstrap import database
    from dcc.config import get_settings

    monkeypatch.setenv("DCC_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DCC_DATABASE_URL", sqlite_database.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    database.cache_clear()
    yield sqlite_database
    database().dispose()
    database.cache_clear()
    get_settings.cache_clear()


def test_cli_import_and_compute(cli_env: Database, tmp_path: Path) -> None:
    from dcc.cli import app

    ids = build(cli_env)
    runner = CliRunner()
    bad = tmp_path / "bad.csv"
    bad.write_text("dossier;date_premier_traitement\ninconnu;2026-03-01\n", encoding="utf-8")
    result = runner.invoke(app, ["indicators", "import-first-treatments", str(bad)])
    assert result.exit_code == 2 and "dossier « inconnu » introuvable" in result.output
    good = tmp_path / "good.csv"
    good.write_text(f"dossier;date_premier_traitement\n{ids['C4']};2026-03-06\n", encoding="utf-8")
    result = runner.invoke(app, ["indicators", "import-first-treatments", str(good)])
    assert result.exit_code == 0 and "1 date(s) de premier traitement enregistrée(s)." in result.output
    assert dates(cli_env, ids, "C4") == [date(2026, 3, 6)]
    result = runner.invoke(app, ["indicators", "compute", "--months-back", "0"])
    assert result.exit_code == 0 and ": 4 RCP" in result.output  # the current month, one row per board
    with cli_env.uow() as uow:
        this_month = datetime.now(ZoneInfo("Europe/Paris")).date().replace(day=1)
        assert uow.session.scalars(select(m.IndicatorMonth.month).distinct()).all() == [this_month]
