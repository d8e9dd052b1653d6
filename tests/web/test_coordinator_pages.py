"""Coordinator (3C) pages through the test client: role homes and `/`, the board directory, session
management with its re-assignment preview, the case list, editing and withdrawing a case, calendars."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from dcc.adapters.db import models as m
from tests.web import test_pages as _pages
from tests.web.test_pages import csrf

# the pages' fixtures (a seeded demo database copied per test, clients signed in as a demo user)
template_dir = _pages.template_dir
app = _pages.app
as_user = _pages.as_user


# ------------------------------------------------------------------------------------- role homes


def test_root_sends_an_anonymous_visitor_to_the_login_page(as_user: Any) -> None:
    answer = as_user(None).get("/")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")


@pytest.mark.parametrize(("who", "home"), [("coord-a", "/coordination/"), ("phys-a1", "/medecin/"),
                                           ("monitor-a", "/suivi/")])
def test_root_and_login_land_each_role_on_its_home(as_user: Any, who: str, home: str) -> None:
    client = as_user(None)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    # the login form without a target (`next` defaults to `/`), as a person arriving on the site
    answer = client.post("/login/dev", data={"csrf_token": token.group(1), "login": who})
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    assert client.get("/").headers["location"] == home
    assert client.get(home).status_code == 200


def test_coordinator_nav_lists_the_coordinator_pages(as_user: Any) -> None:
    page = as_user("coord-a").get("/coordination/")
    nav = page.text.split('aria-label="Navigation principale"', 1)[1].split("</nav>", 1)[0]
    for href in ('href="/coordination/"', 'href="/coordination/rcp"', 'href="/coordination/dossiers"',
                 'href="/coordination/dossiers/nouveau"'):
        assert href in nav


# -------------------------------------------------------------------------------------- board directory


def _coord_directory(app: Any) -> tuple[m.Establishment, list[m.Professional]]:
    with app.state.database.uow() as uow:
        user = uow.session.scalars(select(m.AppUser).where(m.AppUser.login == "coord-a")).one()
        est = uow.session.get(m.Establishment, user.establishment_id)
        people = list(uow.session.scalars(select(m.Professional).where(
            m.Professional.establishment_id == est.id).order_by(m.Professional.family)).all())
        uow.session.expunge_all()
        return est, people


def _board_form(est: m.Establishment, people: list[m.Professional], **changes: Any) -> dict[str, Any]:
    physicians = [p for p in people if p.is_physician]
    form: dict[str, Any] = {
        "name": "RCP Sarcomes", "rcp_id": "RCP-SARC-01", "establishment_finess": est.finess, "kind": "organ",
        "appareil_code": "", "organe_code": "", "transversal_code": "", "frequency": "bimensuelle",
        "weekday": "TH", "rank": "1", "start_time": "18:00", "duration_min": "60", "capacity": "8",
        "deadline_working_days": "3", "place": "Salle 4", "video_link": "https://visio.example.fr/sarcomes",
        "responsible_id": physicians[0].id, "coordinator_id": people[-1].id,
        "member_ids": [p.id for p in physicians[1:3]], "required_specialties": ["chirurgien", "oncologue_medical"],
    }
    form.update(changes)
    return form


def test_board_directory_lists_the_coordinators_boards(as_user: Any) -> None:
    page = as_user("coord-a").get("/coordination/rcp")
    assert page.status_code == 200
    assert "RCP Sein" in page.text and "Créer une RCP" in page.text
    assert "chaque semaine, le" in page.text or "du mois" in page.text  # the rule in words, not an RRULE
    assert "FREQ=" not in page.text


def test_create_a_board_with_members_and_roles_then_edit_and_deactivate_it(as_user: Any, app: Any) -> None:
    from dcc import valuesets

    client = as_user("coord-a")
    est, people = _coord_directory(app)
    form_page = client.get("/coordination/rcp/nouvelle")
    assert form_page.status_code == 200
    appareil = valuesets.concepts("JDV_RCP_Appareil_CISIS")[0]
    data = _board_form(est, people, appareil_code=appareil.code, csrf_token=csrf(form_page.text))
    answer = client.post("/coordination/rcp/nouvelle", data=data)
    assert answer.status_code == 303, answer.text
    board_url = answer.headers["location"].split("?")[0]
    page = client.get(board_url)
    assert "RCP Sarcomes" in page.text
    assert "toutes les deux semaines, le jeudi, à 18:00" in page.text
    assert "Salle 4" in page.text and "https://visio.example.fr/sarcomes" in page.text
    responsible = [p for p in people if p.is_physician][0]
    row = page.text.split(responsible.family, 1)[1].split("</tr>", 1)[0]
    assert "responsable" in row
    assert page.text.count("membre permanent") == 2
    assert "chirurgien, oncologue médical" in page.text
    # edit: the form comes back filled in; a new capacity and one more member
    edit = client.get(board_url + "/modifier")
    assert 'value="RCP-SARC-01"' in edit.text and 'value="8"' in edit.text
    data = _board_form(est, people, appareil_code=appareil.code, capacity="10", csrf_token=csrf(edit.text),
                       member_ids=[p.id for p in people if p.is_physician][1:4])
    answer = client.post(board_url + "/modifier", data=data)
    assert answer.status_code == 303
    assert "RCP modifiée" in client.get(answer.headers["location"]).text
    page = client.get(board_url)
    assert "10 dossiers par séance" in page.text and page.text.count("membre permanent") == 3
    # deactivate: the confirmation is required
    answer = client.post(board_url + "/desactiver", data={"csrf_token": csrf(page.text)})
    assert "Cochez la confirmation" in client.get(answer.headers["location"]).text
    answer = client.post(board_url + "/desactiver", data={"csrf_token": csrf(page.text), "confirmer": "oui"})
    assert "RCP désactivée" in client.get(answer.headers["location"]).text
    assert "désactivée" in client.get("/coordination/rcp").text


@pytest.mark.parametrize(("changes", "message"), [
    ({"establishment_finess": "123456789"}, "FINESS"),
    ({"appareil_code": ""}, "obligatoire pour une RCP d'organe"),
    ({"video_link": "http://visio"}, "https://"),
    ({"weekday": "SU"}, "jour de la semaine"),
    ({"capacity": "0"}, "Capacité"),
])
def test_board_form_errors_are_french_and_write_nothing(as_user: Any, app: Any, changes: dict[str, Any],
                                                        message: str) -> None:
    from dcc import valuesets

    client = as_user("coord-a")
    est, people = _coord_directory(app)
    token = csrf(client.get("/coordination/rcp/nouvelle").text)
    data = _board_form(est, people, appareil_code=valuesets.concepts("JDV_RCP_Appareil_CISIS")[0].code,
                       csrf_token=token)
    data.update(changes)
    answer = client.post("/coordination/rcp/nouvelle", data=data)
    assert answer.status_code == 422
    assert "La RCP n'a pas pu être enregistrée" in answer.text
    summary = html.unescape(answer.text.split('class="error-summary"', 1)[1].split("</div>", 1)[0])
    assert message.lower() in summary.lower(), summary
    assert 'value="RCP Sarcomes"' in answer.text  # what was typed is kept
    with app.state.database.uow() as uow:
        assert uow.session.scalars(select(m.Board).where(m.Board.rcp_id == "RCP-SARC-01")).first() is None


def test_a_board_outside_the_coordinators_scope_is_not_found(as_user: Any, app: Any) -> None:
    with app.state.database.uow() as uow:
        user = uow.session.scalars(select(m.AppUser).where(m.AppUser.login == "coord-a")).one()
        other = uow.session.scalars(select(m.Board.id).where(
            m.Board.establishment_id != user.establishment_id)).first()
    assert as_user("coord-a").get(f"/coordination/rcp/{other}").status_code == 404


# ------------------------------------------------------------------------------------------- sessions


def _busy_session(app: Any) -> tuple[str, str, list[str]]:
    """A planned session of a coord-a board with cases on it: (session id, board id, case ids)."""
    with app.state.database.uow() as uow:
        user = uow.session.scalars(select(m.AppUser).where(m.AppUser.login == "coord-a")).one()
        rows = uow.session.execute(
            select(m.Session.id, m.Session.board_id, m.Case.id).join(m.Case, m.Case.session_id == m.Session.id)
            .join(m.Board, m.Board.id == m.Session.board_id)
            .where(m.Session.status == "planned", m.Board.establishment_id == user.establishment_id,
                   m.Session.starts_at > datetime(2026, 3, 3, tzinfo=UTC))
            .order_by(m.Session.starts_at)).all()
    assert rows, "the demo scenario has assigned cases"
    sid, board_id = rows[0][0], rows[0][1]
    return sid, board_id, [r[2] for r in rows if r[0] == sid]


def test_plan_and_add_a_session_from_the_board_page(as_user: Any, app: Any) -> None:
    client = as_user("coord-a")
    _, board_id, _ = _busy_session(app)
    page = client.get(f"/coordination/rcp/{board_id}")
    token = csrf(page.text)
    answer = client.post(f"/coordination/rcp/{board_id}/planifier", data={"csrf_token": token, "semaines": "12"})
    text = client.get(answer.headers["location"]).text
    assert "séance(s) planifiée(s) sur 12 semaine(s)" in text
    answer = client.post(f"/coordination/rcp/{board_id}/planifier", data={"csrf_token": token, "semaines": "12"})
    assert "Aucune nouvelle séance" in client.get(answer.headers["location"]).text  # idempotent
    answer = client.post(f"/coordination/rcp/{board_id}/seances",
                         data={"csrf_token": token, "date": "2026-03-28", "heure": "09:30"})
    assert answer.headers["location"].startswith("/coordination/seances/")
    assert "samedi 28 mars 2026 à 09:30" in client.get(answer.headers["location"]).text
    answer = client.post(f"/coordination/rcp/{board_id}/seances",
                         data={"csrf_token": token, "date": "2026-02-02", "heure": "09:30"})
    assert "dans le passé" in client.get(answer.headers["location"]).text


def test_cancel_shows_where_cases_go_before_confirming(as_user: Any, app: Any) -> None:
    client = as_user("coord-a")
    sid, board_id, case_ids = _busy_session(app)
    preview = client.get(f"/coordination/seances/{sid}/annuler")
    assert preview.status_code == 200
    assert "Conséquences, avant confirmation" in preview.text
    for case_id in case_ids:
        assert f"/coordination/dossiers/{case_id}" in preview.text
    with app.state.database.uow() as uow:  # the preview wrote nothing
        assert uow.session.get(m.Session, sid).status == "planned"
        assert {c.session_id for c in (uow.session.get(m.Case, cid) for cid in case_ids)} == {sid}
    answer = client.post(f"/coordination/seances/{sid}/annuler", data={"csrf_token": csrf(preview.text)})
    assert answer.status_code == 303
    assert "annulée" in client.get(answer.headers["location"]).text
    with app.state.database.uow() as uow:
        assert uow.session.get(m.Session, sid).status == "cancelled"
        assert all(uow.session.get(m.Case, cid).session_id != sid for cid in case_ids)


def test_move_preview_then_confirmation(as_user: Any, app: Any) -> None:
    client = as_user("coord-a")
    sid, board_id, case_ids = _busy_session(app)
    form = client.get(f"/coordination/seances/{sid}/deplacer")
    assert form.status_code == 200 and "Nouvelle date" in form.text and "Confirmer" not in form.text
    bad = client.get(f"/coordination/seances/{sid}/deplacer?date=2026-01-05&heure=10:00")
    assert bad.status_code == 422 and "dans le passé" in bad.text
    preview = client.get(f"/coordination/seances/{sid}/deplacer?date=2026-04-30&heure=10:00")
    assert preview.status_code == 200 and "Confirmer le déplacement" in preview.text
    answer = client.post(f"/coordination/seances/{sid}/deplacer",
                         data={"csrf_token": csrf(preview.text), "date": "2026-04-30", "heure": "10:00"})
    assert "Séance déplacée au jeudi 30 avril 2026 à 10:00" in client.get(answer.headers["location"]).text


# ---------------------------------------------------------------------------------------------- cases


@pytest.fixture
def at_monday_morning(app: Any) -> Any:
    """The real time pinned to the pages' Monday, 8:00 UTC (the sessions of the scenario are still ahead)."""
    from dcc.web.deps import get_now

    app.dependency_overrides[get_now] = lambda: datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    yield app
    app.dependency_overrides.pop(get_now, None)


def test_case_list_filters_and_links_each_row_to_its_case(as_user: Any, app: Any) -> None:
    client = as_user("coord-a")
    sid, board_id, case_ids = _busy_session(app)
    page = client.get("/coordination/dossiers")
    assert page.status_code == 200 and "dossier(s)" in page.text
    total = int(re.search(r"<h2 id=\"resultats\">(\d+) dossier", page.text).group(1))
    assert total > len(case_ids)
    on_session = client.get(f"/coordination/dossiers?seance={sid}")
    assert f"<h2 id=\"resultats\">{len(case_ids)} dossier(s)" in on_session.text
    for case_id in case_ids:
        assert f'href="/coordination/dossiers/{case_id}"' in on_session.text
    with app.state.database.uow() as uow:
        case = uow.session.get(m.Case, case_ids[0])
        patient = uow.session.get(m.Patient, case.patient_id)
        name = patient.birth_family
    by_name = client.get("/coordination/dossiers", params={"q": name.lower()})
    assert f'href="/coordination/dossiers/{case_ids[0]}"' in by_name.text
    assert "Aucun dossier ne correspond" in client.get("/coordination/dossiers?du=2031-01-01").text
    assert client.get("/coordination/dossiers?du=2026-04-01&au=2026-03-01").status_code == 422
    # the agenda rows link to their cases
    agenda = client.get(f"/coordination/seances/{sid}")
    assert f'<a href="/coordination/dossiers/{case_ids[0]}">' in agenda.text


def test_edit_and_withdraw_a_case_before_its_session(as_user: Any, app: Any, at_monday_morning: Any) -> None:
    client = as_user("coord-a")
    sid, _, case_ids = _busy_session(app)
    case_id = case_ids[0]
    form = client.get(f"/coordination/dossiers/{case_id}/modifier")
    assert form.status_code == 200
    answer = client.post(f"/coordination/dossiers/{case_id}/modifier", data={
        "csrf_token": csrf(form.text), "question": "", "earliest_date": "2026-03-02"})
    assert answer.status_code == 422 and "Le dossier n'a pas pu être modifié" in answer.text
    answer = client.post(f"/coordination/dossiers/{case_id}/modifier", data={
        "csrf_token": csrf(form.text), "question": "Reprise chirurgicale ?", "earliest_date": "2026-03-02",
        "urgent": "oui"})
    assert answer.status_code == 303
    page = client.get(answer.headers["location"])
    assert "Dossier modifié" in page.text and "Reprise chirurgicale ?" in page.text
    answer = client.post(f"/coordination/dossiers/{case_id}/retirer", data={"csrf_token": csrf(page.text),
                                                                            "motif": "x"})
    assert "Retrait refusé" in client.get(answer.headers["location"]).text
    answer = client.post(f"/coordination/dossiers/{case_id}/retirer", data={
        "csrf_token": csrf(page.text), "motif": "Patient pris en charge ailleurs."})
    page = client.get(answer.headers["location"])
    assert "Dossier retiré de la RCP" in page.text and "Dossier retiré : Patient pris en charge ailleurs." in page.text
    assert f'/coordination/dossiers/{case_id}"' not in client.get(f"/coordination/seances/{sid}").text
    assert "Retiré : Patient pris en charge ailleurs." in client.get("/coordination/dossiers?statut=withdrawn").text


# ------------------------------------------------------------------------------------------- calendars


def test_subscription_url_works_without_a_cookie_until_revoked(as_user: Any, app: Any,
                                                               at_monday_morning: Any) -> None:
    from icalendar import Calendar

    client = as_user("phys-a1")  # any role has its agenda
    page = client.get("/agenda")
    assert page.status_code == 200 and "Aucun abonnement actif" in page.text
    created = client.post("/agenda/abonnement", data={"csrf_token": csrf(page.text)})
    url = re.search(r'id="f-url" type="text" readonly value="([^"]+)"', created.text).group(1)
    path = url.split("://", 1)[1].split("/", 1)[1]
    assert "Abonnement actif depuis" in client.get("/agenda").text
    calendar_client = as_user(None)  # a calendar client: no session cookie
    feed = calendar_client.get("/" + path)
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    titles = [str(e["SUMMARY"]) for e in Calendar.from_ical(feed.content).walk("VEVENT")]
    assert titles and all(t.startswith("RCP ") and not t.startswith("RCP RCP") for t in titles)
    revoked = client.post("/agenda/revoquer", data={"csrf_token": csrf(page.text)})
    assert "Abonnement révoqué" in client.get(revoked.headers["location"]).text
    gone = calendar_client.get("/" + path)
    assert gone.status_code == 404 and "révoqué" in gone.text


def test_board_page_links_its_ics_file(as_user: Any, app: Any) -> None:
    client = as_user("coord-a")
    _, board_id, _ = _busy_session(app)
    page = client.get(f"/coordination/rcp/{board_id}")
    assert f'href="/coordination/rcp/{board_id}/calendrier.ics"' in page.text
    ics = client.get(f"/coordination/rcp/{board_id}/calendrier.ics")
    assert ics.status_code == 200 and b"BEGIN:VCALENDAR" in ics.content
    assert b"SUMMARY:RCP RCP" not in ics.content and b"SUMMARY:RCP " in ics.content
    assert as_user(None).get(f"/coordination/rcp/{board_id}/calendrier.ics").status_code == 303  # login first
