"""The network's monthly indicators in the monitor's pages (/suivi/rapport: table per level, charts as SVG and
PNG each followed by its table, the annual report CSV) and the first-treatment date over the API."""

# ruff: noqa: F811  (the shared fixtures are imported, then requested by name)
from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from dcc.adapters.db import models as m
from dcc.services import indicator_table
from tests.web.helpers_web import Seeded, case_payload
from tests.web.test_pages import app, as_user, template_dir  # noqa: F401  (shared fixtures)

# Jan-Mar 2026 in Paris: 1 Jan 00:00 CET = 31 Dec 23:00 UTC; 1 Apr 00:00 CEST = 31 Mar 22:00 UTC
PERIOD = (datetime(2025, 12, 31, 23, tzinfo=UTC), datetime(2026, 3, 31, 22, tzinfo=UTC))


def _compute(app: Any, *months: date) -> None:
    with app.state.database.uow() as uow:
        for month in months:
            indicator_table.refresh_month(uow, month)


def _region_a_opinions_and_sessions(app: Any) -> tuple[int, int]:
    """Counted here with SQL of the test's own: decisions at quorate held sessions, and held sessions, of
    region A's boards in January-March 2026 (Paris)."""
    region_a = ("SELECT b.id FROM board b JOIN establishment e ON e.id = b.establishment_id "
                "JOIN region r ON r.id = e.region_id WHERE r.code = 'A'")
    held = ("s.status IN ('held', 'validated') AND s.starts_at >= :lo AND s.starts_at < :hi "
            f"AND s.board_id IN ({region_a})")
    with app.state.database.engine.connect() as conn:
        lo, hi = (v.replace(tzinfo=None) for v in PERIOD)  # stored as naive UTC on SQLite
        opinions = conn.execute(text(f"SELECT count(*) FROM decision d JOIN session s ON s.id = d.session_id "
                                     f"WHERE {held} AND s.quorum = 'met'"), {"lo": lo, "hi": hi}).scalar_one()
        sessions = conn.execute(text(f"SELECT count(*) FROM session s WHERE {held}"),
                                {"lo": lo, "hi": hi}).scalar_one()
    return opinions, sessions


def test_report_page_charts_tables_and_csv(as_user: Any, app: Any) -> None:
    _compute(app, date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1))
    opinions, sessions = _region_a_opinions_and_sessions(app)
    assert opinions > 0 and sessions > 0  # the scenario held meetings in the period
    client = as_user("monitor-a")
    page = client.get("/suivi/rapport?du=2026-01&au=2026-03")
    assert page.status_code == 200, page.text
    assert f'id="kpi-avis">{opinions}<' in page.text
    assert f"sur {sessions}," in page.text  # « … de séances avec quorum (x sur N, … non renseigné) »
    assert 'id="non-calcules"' not in page.text
    assert "Par région, établissement et RCP" in page.text and 'id="rap-board-' in page.text
    # every chart is followed by the table of its values (accessible), and has a PNG download
    for name in indicator_table_charts():
        img = page.text.index(f'src="/suivi/rapport/graphiques/{name}.svg?du=2026-01&amp;au=2026-03"')
        assert page.text.index(f'id="tab-{name}"') > img
        svg = client.get(f"/suivi/rapport/graphiques/{name}.svg?du=2026-01&au=2026-03")
        assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
        assert svg.text.lstrip().startswith("<svg") and "<script" not in svg.text
        png = client.get(f"/suivi/rapport/graphiques/{name}.png?du=2026-01&au=2026-03")
        assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert "janvier 2026" in client.get("/suivi/rapport/graphiques/activite.svg?du=2026-01&au=2026-03").text
    assert client.get("/suivi/rapport/graphiques/inconnu.svg").status_code == 404
    export = client.get("/suivi/rapport.csv?du=2026-01&au=2026-03")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert 'filename="rapport-activite-rcp-202601-202603.csv"' in export.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert lines[0] == ["Rapport d'activité RCP du 01/01/2026 au 31/03/2026"]
    header = lines[2]
    total = dict(zip(header, next(line for line in lines if line[:1] == ["Total"]), strict=True))
    assert (total["Avis rendus (quorum atteint)"], total["Séances tenues"]) == (str(opinions), str(sessions))
    assert [line[0] for line in lines if line[:1] and line[0].endswith(" 2026")] == [
        "janvier 2026", "février 2026", "mars 2026"]


def indicator_table_charts() -> tuple[str, ...]:
    return ("activite", "delais", "qualite")


def test_report_page_says_what_is_not_computed_and_refuses_bad_filters(as_user: Any, app: Any) -> None:
    _compute(app, date(2026, 3, 1))
    client = as_user("monitor-a")
    page = client.get("/suivi/rapport?du=2026-02&au=2026-03")
    assert page.status_code == 200
    assert re.search(r'id="non-calcules">Indicateurs non encore calculés pour : février 2026 ', page.text)
    bad = client.get("/suivi/rapport?du=2026-13")
    assert bad.status_code == 422 and "Mois invalide : utilisez le format AAAA-MM." in bad.text
    reversed_ = client.get("/suivi/rapport?du=2026-03&au=2026-01")
    assert reversed_.status_code == 422 and "La date de fin précède la date de début." in reversed_.text
    assert "hors de votre périmètre" in client.get("/suivi/rapport?rcp=inconnue").text
    assert as_user("phys-a1").get("/suivi/rapport").status_code in (403, 404)


# ------------------------------------------------------------------------------ first-treatment API


def test_first_treatment_date_over_the_api(client: TestClient, seeded: Seeded) -> None:
    board = seeded.board(0)
    payload = case_payload(board.id, seeded.members(board.id)[0].rpps, diagnosis_date="2026-02-10")
    created = client.post("/api/v1/cases", json=payload)
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    url = f"/api/v1/cases/{case_id}/first-treatment"
    future = client.put(url, json={"first_treatment_date": "2026-03-03"})  # the tests' today is 2 March 2026
    assert future.status_code == 422 and "ne peut pas être dans le futur" in future.text
    early = client.put(url, json={"first_treatment_date": "2026-02-09"})
    assert early.status_code == 422
    assert "La date du premier traitement (09/02/2026) précède la date du diagnostic (10/02/2026)." in early.text
    with seeded.database.uow() as uow:
        case = uow.session.get(m.Case, case_id)
        assert case is not None and case.first_treatment_date is None  # nothing written
    ok = client.put(url, json={"first_treatment_date": "2026-02-20"})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"case_id": case_id, "first_treatment_date": "2026-02-20", "recorded_by": "coord-test"}
    assert client.get(f"/api/v1/cases/{case_id}").json()["first_treatment_date"] == "2026-02-20"
    assert client.put(url, json={"first_treatment_date": "hier"}).status_code == 422
    assert client.put("/api/v1/cases/inconnu/first-treatment", json={"first_treatment_date": None}).status_code == 404


def test_care_team_enters_the_first_treatment_date_on_the_pps_page(as_user: Any, app: Any) -> None:
    from sqlalchemy import select

    from tests.web.test_pages import TODAY, csrf

    db = app.state.database
    with db.uow() as uow:
        nurse = uow.session.scalars(select(m.AppUser).where(m.AppUser.login == "ide-a")).one()
        case = uow.session.scalars(select(m.Case).join(m.Board, m.Board.id == m.Case.board_id)
                                   .where(m.Board.establishment_id == nurse.establishment_id,
                                          m.Case.status == "decided").order_by(m.Case.id)).first()
        assert case is not None
        case_id, diagnosed = case.id, case.diagnosis_date
    client = as_user("ide-a")
    page = client.get(f"/pps/dossiers/{case_id}")
    assert page.status_code == 200
    assert '<span id="date-premier-traitement">non renseignée</span>' in page.text
    url = f"/pps/dossiers/{case_id}/premier-traitement"
    future = client.post(url, data={"csrf_token": csrf(page.text), "first_treatment_date": "2026-03-03"})
    assert future.status_code == 422  # the pages' today is 2 March 2026
    assert "La date du premier traitement ne peut pas être dans le futur." in future.text
    assert diagnosed is not None  # the scenario's cases carry their diagnosis date
    day_before = date.fromordinal(diagnosed.toordinal() - 1).isoformat()
    before = client.post(url, data={"csrf_token": csrf(page.text), "first_treatment_date": day_before})
    assert before.status_code == 422 and "précède la date du diagnostic" in before.text
    done = client.post(url, data={"csrf_token": csrf(page.text), "first_treatment_date": TODAY.isoformat()})
    assert done.status_code == 303
    assert '<span id="date-premier-traitement">02/03/2026</span> (saisie par ide-a)' in client.get(
        f"/pps/dossiers/{case_id}").text
    with db.uow() as uow:
        stored = uow.session.get(m.Case, case_id)
        assert stored is not None and stored.first_treatment_date == TODAY
