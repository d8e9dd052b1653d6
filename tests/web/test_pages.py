"""The server-rendered pages through the test client: login redirect, roles, CSRF, live field checks,
scope (404), French error messages, SVG charts, security headers."""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.domain.identifiers import nir_key
from dcc.services import boards as board_services
from dcc.services.uow import Database
from tests.e2e import browser_scenario as cb

TODAY = date(2026, 3, 2)


@pytest.fixture(scope="module")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pages")
    scenario = cb.build_scenario(path, today=TODAY, patients=8, documents=False)
    scenario.database.dispose()
    return path


@pytest.fixture
def app(template_dir: Path, tmp_path: Path) -> Iterator[Any]:
    var = tmp_path / "var"
    shutil.copytree(template_dir, var)
    db = Database(f"sqlite:///{var / 'dcc.sqlite3'}")
    yield cb.make_app(cb.Scenario(database=db, today=TODAY, var_dir=var))
    db.dispose()


def login(client: TestClient, who: str) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    answer = client.post("/login/dev", data={"csrf_token": token.group(1), "login": who, "next": "/accueil"})
    assert answer.status_code == 303


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


@pytest.fixture
def as_user(app: Any) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(who: str | None) -> TestClient:
        client = TestClient(app, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        if who:
            login(client, who)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_templates_autoescape() -> None:
    from dcc.web.pages._common import templates

    assert templates.env.autoescape is True
    rendered = templates.env.from_string("{{ x }}").render(x="<script>")
    assert rendered == "&lt;script&gt;"


def test_anonymous_is_sent_to_login(as_user: Any) -> None:
    client = as_user(None)
    answer = client.get("/coordination/?vue=semaine")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=/coordination/")


@pytest.mark.parametrize(("who", "home"), [("coord-a", "/coordination/"), ("phys-a1", "/medecin/"),
                                           ("monitor-a", "/suivi/")])
def test_each_role_lands_on_its_page(as_user: Any, who: str, home: str) -> None:
    client = as_user(who)
    assert client.get("/accueil").headers["location"] == home
    page = client.get(home)
    assert page.status_code == 200
    assert '<html lang="fr">' in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text and " style=" not in page.text  # no inline script or style


def test_wrong_role_gets_a_french_403(as_user: Any) -> None:
    page = as_user("phys-a1").get("/coordination/")
    assert page.status_code == 403
    assert "accessible avec votre rôle (Médecin)" in page.text
    assert as_user("monitor-a").get("/medecin/a-signer").status_code == 403


def test_post_without_csrf_token_is_refused(as_user: Any, app: Any) -> None:
    client = as_user("coord-a")
    with app.state.database.uow() as uow:
        session_id = uow.session.scalars(select(m.Session.id)).first()
    answer = client.post(f"/coordination/seances/{session_id}/valider", data={})
    assert answer.status_code == 403
    assert "CSRF" in answer.text


def test_live_validation_of_the_ins_key_and_codes(as_user: Any) -> None:
    client = as_user("coord-a")
    token = csrf(client.get("/coordination/dossiers/nouveau").text)
    headers = {"HX-Request": "true", "HX-Trigger-Name": "ins_matricule"}
    first13 = "2690575056123"
    answer = client.post("/coordination/dossiers/verifier", headers=headers,
                         data={"csrf_token": token, "ins_matricule": first13})
    assert answer.status_code == 200
    assert f"la clé attendue est {nir_key(first13)}" in answer.text
    wrong = first13 + f"{(int(nir_key(first13)) + 1) % 97:02d}"
    answer = client.post("/coordination/dossiers/verifier", headers=headers,
                         data={"csrf_token": token, "ins_matricule": wrong})
    assert "la clé de contrôle ne correspond pas" in answer.text and "field-error" in answer.text
    answer = client.post("/coordination/dossiers/verifier", headers=headers,
                         data={"csrf_token": token, "ins_matricule": first13 + nir_key(first13)})
    assert "Clé du NIR valide" in answer.text and "field-ok" in answer.text
    answer = client.post("/coordination/dossiers/verifier",
                         headers={**headers, "HX-Trigger-Name": "topography_code"},
                         data={"csrf_token": token, "topography_code": "Z99.9"})
    assert "JDV_Tumeur_CISIS" in answer.text
    answer = client.post("/coordination/dossiers/verifier",
                         headers={**headers, "HX-Trigger-Name": "requester_rpps"},
                         data={"csrf_token": token, "requester_rpps": "12345678901"})
    assert "RPPS" in answer.text and "field-error" in answer.text


def test_registration_errors_are_shown_next_to_their_field(as_user: Any) -> None:
    client = as_user("coord-a")
    form_page = client.get("/coordination/dossiers/nouveau")
    token = csrf(form_page.text)
    board_id = re.findall(r'<option value="([0-9a-f-]{36})"', form_page.text)[0]
    answer = client.post("/coordination/dossiers/nouveau", data={
        "csrf_token": token, "board_id": board_id, "requester_rpps": "", "ins_matricule": "123",
        "birth_family": "X", "birth_given_first": "Y", "birth_given_all": "Y", "birth_date": "1970-01-01",
        "sex": "F", "birthplace_insee": "75056", "topography_code": "C50.9", "laterality": "gauche", "question": "Q ?",
        "earliest_date": TODAY.isoformat()})
    assert answer.status_code == 422
    assert 'id="f-ins_matricule"' in answer.text and 'aria-invalid="true"' in answer.text
    assert "15 caractères" in answer.text
    assert 'class="error-summary"' in answer.text


def test_registration_form_refuses_an_incompatible_morphology_and_keeps_the_tumour_fields(as_user: Any) -> None:
    client = as_user("coord-a")
    form_page = client.get("/coordination/dossiers/nouveau")
    assert 'name="laterality"' in form_page.text and 'name="diagnosis_date"' in form_page.text
    assert 'name="tnm_stage"' in form_page.text and 'name="tnm_edition"' in form_page.text
    board_id = re.findall(r'<option value="([0-9a-f-]{36})"', form_page.text)[0]
    first13 = "1840699350048"
    answer = client.post("/coordination/dossiers/nouveau", data={
        "csrf_token": csrf(form_page.text), "board_id": board_id, "requester_rpps": re.search(
            r'id="f-requester_rpps" name="requester_rpps" type="text" value="(\d+)"', form_page.text).group(1),
        "ins_matricule": first13 + nir_key(first13), "ins_oid": "1.2.250.1.213.1.4.8",
        "birth_family": "DURAND", "birth_given_first": "PAUL", "birth_given_all": "PAUL", "birth_date": "1984-06-01",
        "sex": "M", "birthplace_insee": "99350", "topography_code": "C18.7", "morphology_code": "8500/3",
        "diagnosis_date": "2026-01-15", "question": "Chirurgie ?", "earliest_date": TODAY.isoformat(),
        "pathology_report": "oui"})
    assert answer.status_code == 422
    assert 'id="f-morphology_code"' in answer.text and 'aria-invalid="true"' in answer.text
    assert "n'est pas compatible avec la localisation « C18.7 Tumeur maligne du côlon sigmoïde »" \
        in html.unescape(answer.text)
    assert 'value="2026-01-15"' in answer.text  # the entered values stay in the form


def test_register_then_move_to_a_session(as_user: Any, app: Any) -> None:
    client = as_user("coord-a")
    form_page = client.get("/coordination/dossiers/nouveau")
    # a lung case goes to the thoracic board (it meets twice a month: sessions remain to move the case to)
    board_id = re.findall(r'<option value="([0-9a-f-]{36})"[^>]*>RCP Thorax<', form_page.text)[0]
    first13 = "1840699350047"
    answer = client.post("/coordination/dossiers/nouveau", data={
        "csrf_token": csrf(form_page.text), "board_id": board_id, "requester_rpps": re.search(
            r'id="f-requester_rpps" name="requester_rpps" type="text" value="(\d+)"', form_page.text).group(1),
        "ins_matricule": first13 + nir_key(first13), "ins_oid": "1.2.250.1.213.1.4.8", "ins_qualified": "oui",
        "birth_family": "DURAND", "birth_given_first": "PAUL", "birth_given_all": "PAUL", "birth_date": "1984-06-01",
        "sex": "M", "birthplace_insee": "99350", "topography_code": "C34.1", "laterality": "droite",
        "question": "Chirurgie ?",
        "earliest_date": TODAY.isoformat(), "pathology_report": "oui"})
    assert answer.status_code == 303, answer.text
    case_url = answer.headers["location"].split("?")[0]
    case_page = client.get(case_url)
    assert "DURAND" in case_page.text
    session_ids = re.findall(r'<option value="([0-9a-f-]{36})"', case_page.text)
    assert session_ids, case_page.text[-6000:]
    moved = client.post(case_url + "/deplacer", data={"csrf_token": csrf(case_page.text),
                                                      "session_id": session_ids[-1]})
    assert moved.status_code == 303 and moved.headers["location"].startswith(f"/coordination/seances/{session_ids[-1]}")
    agenda = client.get(moved.headers["location"])
    assert "DURAND" in agenda.text and "Dossier déplacé" in agenda.text


def test_out_of_scope_session_is_not_found(as_user: Any, app: Any) -> None:
    with app.state.database.uow() as uow:
        other = uow.session.scalars(
            select(m.Session.id).join(m.Board, m.Board.id == m.Session.board_id)
            .join(m.Establishment, m.Establishment.id == m.Board.establishment_id)
            .join(m.Region, m.Region.id == m.Establishment.region_id).where(m.Region.code == "B")).first()
    page = as_user("coord-a").get(f"/coordination/seances/{other}")
    assert page.status_code == 404
    assert "introuvable" in page.text


def test_attendance_computes_the_quorum(as_user: Any, app: Any) -> None:
    client = as_user("coord-a")
    calendar = client.get("/coordination/?jour=2026-03-16")
    session_id = re.findall(r'href="/coordination/seances/([0-9a-f-]{36})"', calendar.text)[-1]
    agenda = client.get(f"/coordination/seances/{session_id}")
    radios = dict.fromkeys(re.findall(r'name="(presence-[0-9a-f-]{36})"', agenda.text), "present")
    answer = client.post(f"/coordination/seances/{session_id}/presences",
                         data={"csrf_token": csrf(agenda.text), **radios})
    assert answer.status_code == 303
    assert "quorum" in client.get(answer.headers["location"]).text


def test_monitor_requeue_of_an_unknown_message_and_charts_are_svg(as_user: Any) -> None:
    client = as_user("monitor-a")
    page = client.get("/suivi/envois")
    assert page.status_code == 200
    answer = client.post("/suivi/envois/x/relancer", data={"csrf_token": csrf(page.text)})
    assert answer.status_code == 303 and "Aucun%20des%20envois" in answer.headers["location"]
    dashboard = client.get("/suivi/")
    assert "séances tenues" in dashboard.text
    svg = client.get("/suivi/graphiques/delais.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.lstrip().startswith("<svg")
    assert client.get("/suivi/graphiques/inconnu.svg").status_code == 404


def test_plain_french_delivery_errors() -> None:
    from dcc.web.pages.monitor import plain_error

    assert plain_error("delai_depasse", None, "").startswith("Le DMP n'a pas répondu à temps")
    assert "code HTTP 503" in plain_error("", 503, "Service Unavailable")
    assert plain_error("", None, "") == "Aucune erreur enregistrée."


def test_coordinator_records_the_patients_choices_about_the_dmp(as_user: Any, app: Any) -> None:
    """Opposition (and lifting it), identity qualified, announcement and masking from the case page."""
    from tests.web.helpers_web import add_document

    client = as_user("coord-a")
    db = app.state.database
    with db.uow() as uow:
        case_ids = list(uow.session.scalars(select(m.Case.id).order_by(m.Case.id)))
    case_id = next(c for c in case_ids if client.get(f"/coordination/dossiers/{c}").status_code == 200)
    doc_id, msgs = add_document(db, case_id=case_id, unique_id="1.2.250.1.999.3.1.1",
                                destinations={"dmp:A": "held"})
    with db.uow() as uow:
        case = uow.session.get(m.Case, case_id)
        assert case is not None
        patient_id = case.patient_id
        patient = uow.session.get(m.Patient, patient_id)
        assert patient is not None
        patient.ins_qualified = False
        held = uow.session.get(m.OutboxMessage, msgs["dmp:A"])
        assert held is not None
        held.hold_reason = "INS non qualifiée"
        uow.commit()

    page = client.get(f"/coordination/dossiers/{case_id}")
    assert "ne s'est pas opposé" in page.text and "Identité vérifiée (INS qualifiée)" in page.text
    token = csrf(page.text)

    def post(path: str, **data: str) -> str:
        answer = client.post(f"/coordination/dossiers/{case_id}/{path}", data={"csrf_token": token, **data})
        assert answer.status_code == 303, answer.text
        return client.get(answer.headers["location"]).text

    assert "1 envoi(s) en attente relancé(s)" in post("identite")
    after = post("opposition", opposition="oui", motif="refus exprimé en consultation")
    assert "Le patient s'oppose à l'alimentation de son DMP" in after
    with db.uow() as uow:
        msg = uow.session.scalars(select(m.OutboxMessage).where(m.OutboxMessage.document_id == doc_id)).one()
        assert msg.state == "blocked" and "refus exprimé" in msg.hold_reason
    assert "Opposition levée : 1 envoi(s)" in post("opposition", opposition="non")
    assert "devient visible du patient" in post(f"documents/{doc_id}/annonce")
    assert "masqué aux professionnels" in post(f"documents/{doc_id}/masquage", masquer="oui")
    with db.uow() as uow:
        stored = uow.session.get(m.Document, doc_id)
        patient = uow.session.get(m.Patient, patient_id)
        assert stored is not None and stored.announced_at is not None and stored.masked_ps
        assert patient is not None and patient.ins_qualified and not patient.dmp_opposition
    # another user's scope: the same forms answer 404
    other = as_user("phys-b1")
    assert other.post(f"/coordination/dossiers/{case_id}/identite", data={"csrf_token": token}).status_code in (
        403, 404)


def test_physician_records_the_announcement_of_a_document_they_signed(as_user: Any, app: Any) -> None:
    from dcc.services import access
    from tests.web.helpers_web import add_document

    db = app.state.database
    with db.uow() as uow:
        me = uow.session.scalars(select(m.AppUser).where(m.AppUser.login == "phys-a1")).one().professional_id
        b1 = uow.session.scalars(select(m.AppUser).where(m.AppUser.login == "phys-b1")).one()
        outsider = access.User(login=b1.login, role="physician", region_code="B", establishment_id=None,
                               professional_id=b1.professional_id, display_name="")
        boards = list(uow.session.scalars(select(m.BoardMember.board_id).where(m.BoardMember.professional_id == me)))
        case_id = uow.session.scalars(  # a patient of my boards outside phys-b1's care team
            select(m.Case.id).where(m.Case.board_id.in_(boards),
                                    m.Case.patient_id.not_in(access.care_team_patients(outsider)))
            .order_by(m.Case.id)).first()
    assert me and case_id
    doc_id, _ = add_document(db, case_id=case_id, unique_id="1.2.250.1.999.4.1.1", signer_id=me,
                             destinations={"dmp:A": "delivered"})
    client = as_user("phys-a1")
    home = client.get("/medecin/")
    assert "Annonce au patient" in home.text and f"/medecin/documents/{doc_id}/annonce" in home.text
    answer = client.post(f"/medecin/documents/{doc_id}/annonce", data={"csrf_token": csrf(home.text)})
    assert answer.status_code == 303
    after = client.get(answer.headers["location"]).text
    assert "devient visible du patient" in after and f"/medecin/documents/{doc_id}/annonce" not in after
    with db.uow() as uow:
        doc = uow.session.get(m.Document, doc_id)
        assert doc is not None and doc.announced_at is not None
        update = uow.session.scalars(select(m.OutboxMessage).where(
            m.OutboxMessage.document_id == doc_id, m.OutboxMessage.kind == "metadata_update")).one()
        assert update.destination == "dmp:A" and update.state == "pending"
    # a physician outside the patient's care team: 404, nothing recorded
    other = as_user("phys-b1")
    token = csrf(other.get("/medecin/").text)
    refused = other.post(f"/medecin/documents/{doc_id}/annonce", data={"csrf_token": token})
    assert refused.status_code == 404, refused.headers.get("location")


def _planned_session_with_cases(app: Any) -> tuple[str, list[str]]:
    """A planned session of region A (coord-a's scope) with cases assigned, none decided."""
    with app.state.database.uow() as uow:
        rows = uow.session.execute(
            select(m.Session.id, m.Case.id).join(m.Case, m.Case.session_id == m.Session.id)
            .join(m.Board, m.Board.id == m.Session.board_id)
            .join(m.Establishment, m.Establishment.id == m.Board.establishment_id)
            .join(m.Region, m.Region.id == m.Establishment.region_id)
            .where(m.Region.code == "A", m.Session.status == "planned", m.Case.status == "assigned")
            .order_by(m.Session.starts_at, m.Case.id)).all()
    assert rows, "the scenario has no planned session with cases in region A"
    session_id = rows[0][0]
    return session_id, [case_id for sid, case_id in rows if sid == session_id]


def test_validating_a_session_with_undecided_cases_asks_for_confirmation(as_user: Any, app: Any) -> None:
    client = as_user("coord-a")
    session_id, case_ids = _planned_session_with_cases(app)
    agenda = client.get(f"/coordination/seances/{session_id}")
    answer = client.post(f"/coordination/seances/{session_id}/valider", data={"csrf_token": csrf(agenda.text)})
    assert answer.status_code == 409
    assert "n'ont pas de décision" in answer.text and "Confirmer la validation" in answer.text
    assert 'name="confirmer" value="oui"' in answer.text
    with app.state.database.uow() as uow:  # nothing written
        assert uow.session.get(m.Session, session_id).status == "planned"
        assert all(uow.session.get(m.Case, c).session_id == session_id for c in case_ids)
    confirmed = client.post(f"/coordination/seances/{session_id}/valider",
                            data={"csrf_token": csrf(answer.text), "confirmer": "oui"})
    assert confirmed.status_code == 303
    assert "non discuté(s) renvoyé(s) à l&#39;affectation" in client.get(confirmed.headers["location"]).text
    case_page = client.get(f"/coordination/dossiers/{case_ids[0]}")
    assert "Non discuté à la séance du" in case_page.text
    with app.state.database.uow() as uow:
        assert uow.session.get(m.Session, session_id).status == "validated"
        assert all(uow.session.get(m.Case, c).session_id != session_id for c in case_ids)


def test_a_case_re_presented_without_quorum_links_both_case_pages(as_user: Any, app: Any) -> None:
    from dcc.services import boards as board_services
    from dcc.services.schemas import AttendanceInput, DecisionInput

    client = as_user("coord-a")
    session_id, case_ids = _planned_session_with_cases(app)
    db = app.state.database
    with db.uow() as uow:
        board_id = uow.session.get(m.Session, session_id).board_id
        members = [p.id for p in uow.session.scalars(
            select(m.Professional).join(m.BoardMember, m.BoardMember.professional_id == m.Professional.id)
            .where(m.BoardMember.board_id == board_id))]
    with db.uow() as uow:
        assert board_services.record_attendance(uow, session_id=session_id, data=AttendanceInput(
            attendance=dict.fromkeys(members, "absent"))) == "not_met"
    for case_id in case_ids:
        with db.uow() as uow:
            board_services.record_decision(uow, case_id=case_id, data=DecisionInput(
                session_id=session_id, case_status="discussed", proposal_codes=["C15632"],
                proposal_text="Chimiothérapie néoadjuvante.", conform_to_referential=True))
    agenda = client.get(f"/coordination/seances/{session_id}")
    answer = client.post(f"/coordination/seances/{session_id}/valider", data={"csrf_token": csrf(agenda.text)})
    assert answer.status_code == 303
    assert "Quorum non atteint : aucune fiche RCP" in client.get(answer.headers["location"]).text
    old_page = client.get(f"/coordination/dossiers/{case_ids[0]}")
    assert "représenté (quorum non atteint)" in old_page.text
    link = re.search(r'<dd id="represente-a">.*?<a href="/coordination/dossiers/([0-9a-f-]{36})">(Représenté[^<]*)</a>',
                     old_page.text)
    assert link, old_page.text
    new_id, label = link.groups()
    assert (label.startswith("Représenté à la séance du ")
            or label == "Représenté : en attente d'affectation à une séance")
    new_page = client.get(f"/coordination/dossiers/{new_id}")
    back = re.search(r'<dd id="represente-de"><a href="/coordination/dossiers/([0-9a-f-]{36})">'
                     r'Re-présentation du dossier discuté le ([^<]+) sans quorum</a>', new_page.text)
    assert back and back.group(1) == case_ids[0]
    with db.uow() as uow:
        assert uow.session.get(m.Case, new_id).represented_from_id == case_ids[0]
        assert uow.session.query(m.Document).filter(m.Document.case_id.in_(case_ids)).count() == 0
        physician = uow.session.scalars(select(m.AppUser.login).where(
            m.AppUser.role == "physician", m.AppUser.professional_id.in_(members))).first()
    assert physician, "no physician of the board has a login in the scenario"
    page = as_user(physician).get(f"/medecin/dossiers/{case_ids[0]}/decision")
    assert page.status_code == 200
    assert "Quorum non atteint : cette proposition n'est pas une décision de la RCP" in page.text
    assert f'/medecin/dossiers/{new_id}/decision">Représenté à la séance du' in page.text or \
        "Représenté : en attente d'affectation" in page.text


# ------------------------------------------------------------------ time: Paris for people, nothing before the session

PARIS_TZ = ZoneInfo("Europe/Paris")


def _future_session(app: Any, board_id: str) -> tuple[str, datetime]:
    """A session of `board_id` ahead of the real clock (planned from the real today): (id, Paris start)."""
    today = datetime.now(PARIS_TZ).date()
    with app.state.database.uow() as uow:
        board_services.plan_sessions(uow, today=today, horizon_weeks=5, board_ids=[board_id])
    with app.state.database.uow() as uow:
        s = uow.session.scalars(select(m.Session).where(m.Session.board_id == board_id,
                                                         m.Session.starts_at > datetime.now(UTC))
                                .order_by(m.Session.starts_at)).first()
        assert s is not None
        return s.id, s.starts_at.astimezone(PARIS_TZ)


def _region_a_board(app: Any, name: str) -> str:
    with app.state.database.uow() as uow:
        return uow.session.scalars(
            select(m.Board.id).join(m.Establishment, m.Establishment.id == m.Board.establishment_id)
            .join(m.Region, m.Region.id == m.Establishment.region_id)
            .where(m.Region.code == "A", m.Board.name == f"RCP {name}")).one()


def test_session_times_on_the_pages_are_paris_time(as_user: Any, app: Any) -> None:
    """The neuro-oncology board meets at 16:00 Paris time: on 24 March 2026 (winter time) that is 15:00 UTC."""
    board_id = _region_a_board(app, "Recours régional neuro-oncologie")
    with app.state.database.uow() as uow:
        session_id = uow.session.scalars(select(m.Session.id).where(
            m.Session.board_id == board_id,
            m.Session.starts_at == datetime(2026, 3, 24, 15, 0, tzinfo=UTC))).one()
    client = as_user("coord-a")
    page = client.get(f"/coordination/seances/{session_id}")
    assert page.status_code == 200
    assert "séance du mardi 24 mars 2026 à 16:00" in page.text and "15:00" not in page.text
    assert 'href="/coordination/?jour=2026-03-24"' in page.text
    week = client.get(f"/coordination/?vue=semaine&jour=2026-03-24&rcp={board_id}")
    assert re.search(r'<span class="time">16:00</span>', week.text), week.text[:2000]


def test_attendance_page_refuses_a_session_that_has_not_started(as_user: Any, app: Any) -> None:
    session_id, local = _future_session(app, _region_a_board(app, "Sein"))
    client = as_user("coord-a")
    agenda = client.get(f"/coordination/seances/{session_id}")
    radios = dict.fromkeys(re.findall(r'name="(presence-[0-9a-f-]{36})"', agenda.text), "present")
    assert radios
    answer = client.post(f"/coordination/seances/{session_id}/presences",
                         data={"csrf_token": csrf(agenda.text), **radios})
    assert answer.status_code == 409
    expected = (f"La séance du {local:%d/%m/%Y à %H:%M} n&#39;a pas encore commencé : la présence ne peut pas "
                "être enregistrée.")
    assert expected in answer.text
    with app.state.database.uow() as uow:
        s = uow.session.get(m.Session, session_id)
        assert s is not None and (s.status, s.quorum) == ("planned", "unknown")
        assert uow.session.scalars(select(m.Attendance).where(m.Attendance.session_id == session_id)).all() == []


def test_decision_page_refuses_a_session_that_has_not_started(as_user: Any, app: Any) -> None:
    with app.state.database.uow() as uow:
        prof_id = uow.session.scalars(select(m.AppUser.professional_id).where(m.AppUser.login == "phys-a1")).one()
        boards = set(uow.session.scalars(select(m.BoardMember.board_id)
                                         .where(m.BoardMember.professional_id == prof_id)).all())
        case = uow.session.scalars(select(m.Case).where(m.Case.status == "assigned", m.Case.board_id.in_(boards))
                                   .order_by(m.Case.id)).first()
        assert case is not None
        case_id, board_id = case.id, case.board_id
    session_id, local = _future_session(app, board_id)
    with app.state.database.uow() as uow:  # the coordinator moved the case to that session
        case = uow.session.get(m.Case, case_id)
        assert case is not None
        case.session_id = session_id
        uow.commit()
    client = as_user("phys-a1")
    form = client.get(f"/medecin/dossiers/{case_id}/decision")
    assert form.status_code == 200
    answer = client.post(f"/medecin/dossiers/{case_id}/decision", data={
        "csrf_token": csrf(form.text), "case_status": "discussed", "proposal_codes": "387713003",
        "proposal_text": "Chirurgie première.", "conform": "oui"})
    assert answer.status_code == 409
    assert (f"La séance du {local:%d/%m/%Y à %H:%M} n&#39;a pas encore commencé : la décision ne peut pas être "
            "enregistrée.") in answer.text
    with app.state.database.uow() as uow:
        assert uow.session.scalars(select(m.Decision).where(m.Decision.case_id == case_id)).first() is None


# ------------------------------------------------------------------------------ identity vigilance, regeneration


def _region_a_case(app: Any, *, decided: bool, board_ids: list[str] | None = None) -> tuple[m.Case, m.Patient]:
    """A case of region A (decided or not) whose patient has no open case, on a board coord-a runs (those of
    coord-a's establishment); on one of `board_ids` if given."""
    with app.state.database.uow() as uow:
        establishment = uow.session.scalars(select(m.AppUser.establishment_id)
                                            .where(m.AppUser.login == "coord-a")).one()
        if board_ids is None and establishment:
            board_ids = list(uow.session.scalars(select(m.Board.id).where(m.Board.establishment_id == establishment)))
        q = (select(m.Case).join(m.Board, m.Board.id == m.Case.board_id)
             .join(m.Establishment, m.Establishment.id == m.Board.establishment_id)
             .join(m.Region, m.Region.id == m.Establishment.region_id)
             .where(m.Region.code == "A", (m.Case.status == "decided") if decided else (m.Case.status != "decided"),
                    ~m.Case.patient_id.in_(select(m.Case.patient_id).where(m.Case.status != "decided")))
             .order_by(m.Case.id))
        if board_ids is not None:
            q = q.where(m.Case.board_id.in_(board_ids))
        case = uow.session.scalars(q).first()
        assert case is not None
        patient = uow.session.get(m.Patient, case.patient_id)
        assert patient is not None
        uow.session.expunge_all()
        return case, patient


def _identity_form(patient: m.Patient) -> dict[str, str]:
    return {"birth_family": patient.birth_family, "birth_given_first": patient.birth_given_first,
            "birth_given_all": patient.birth_given_all, "birth_date": patient.birth_date.isoformat(),
            "sex": patient.sex, "birthplace_insee": patient.birthplace_insee}


def _form_base(client: TestClient, board_index: int = 0) -> tuple[dict[str, str], list[str]]:
    page = client.get("/coordination/dossiers/nouveau")
    boards = re.findall(r'<option value="([0-9a-f-]{36})"', page.text)
    rpps = re.search(r'id="f-requester_rpps" name="requester_rpps" type="text" value="(\d+)"', page.text)
    assert rpps
    return ({"csrf_token": csrf(page.text), "requester_rpps": rpps.group(1), "topography_code": "C50.9",
             "laterality": "droite", "question": "Quelle stratégie ?", "earliest_date": TODAY.isoformat(),
             "pathology_report": "oui"},
            boards)


def test_registration_page_refuses_a_nir_contradicting_sex(as_user: Any) -> None:
    client = as_user("coord-a")
    base, boards = _form_base(client)
    first13 = "1840699350047"
    answer = client.post("/coordination/dossiers/nouveau", data=base | {
        "board_id": boards[0], "ins_matricule": first13 + nir_key(first13), "ins_oid": "1.2.250.1.213.1.4.8",
        "birth_family": "DURAND", "birth_given_first": "PAULE", "birth_given_all": "PAULE",
        "birth_date": "1984-06-01", "sex": "F", "birthplace_insee": "99350"})
    assert answer.status_code == 422
    assert "Le NIR commence par 1 (sexe masculin) mais le sexe déclaré est féminin." in answer.text
    assert 'id="f-sex"' in answer.text


def test_registration_page_refuses_a_known_ins_with_other_traits(as_user: Any, app: Any) -> None:
    _, patient = _region_a_case(app, decided=True)
    client = as_user("coord-a")
    base, boards = _form_base(client)
    traits = _identity_form(patient) | {"birth_given_first": "AUTRE", "birth_given_all": "AUTRE"}
    answer = client.post("/coordination/dossiers/nouveau", data=base | traits | {
        "board_id": boards[-1], "ins_matricule": patient.ins_matricule or "", "ins_oid": patient.ins_oid or ""})
    assert answer.status_code == 409
    assert "déjà connue avec d&#39;autres traits : premier prénom de naissance différent" in answer.text


def test_registration_page_proposes_the_existing_patient_then_takes_the_choice(as_user: Any, app: Any) -> None:
    client = as_user("coord-a")
    base, boards = _form_base(client)
    case, patient = _region_a_case(app, decided=True, board_ids=boards)  # a board this coordinator runs
    form = base | _identity_form(patient) | {"board_id": case.board_id, "ins_matricule": ""}
    answer = client.post("/coordination/dossiers/nouveau", data=form)
    assert answer.status_code == 409, answer.text
    assert "mêmes traits" in answer.text
    assert f'name="patient_id" type="radio" value="{patient.id}"' in answer.text
    assert 'id="f-new_patient"' in answer.text  # or confirm a new patient
    chosen = client.post("/coordination/dossiers/nouveau", data=form | {"csrf_token": csrf(answer.text),
                                                                         "patient_id": patient.id})
    assert chosen.status_code == 303, chosen.text
    case_id = chosen.headers["location"].split("?")[0].rsplit("/", 1)[-1]
    with app.state.database.uow() as uow:
        new_case = uow.session.get(m.Case, case_id)
        assert new_case is not None and new_case.patient_id == patient.id and new_case.board_id == case.board_id
    # a second open case for the same patient on the same board: refused (409, French)
    again = client.post("/coordination/dossiers/nouveau", data=form | {"csrf_token": csrf(answer.text),
                                                                        "patient_id": patient.id})
    assert again.status_code == 409 and "déjà un dossier en cours" in again.text


def test_patient_search_fragment_offers_to_pick(as_user: Any, app: Any) -> None:
    _, patient = _region_a_case(app, decided=True)
    client = as_user("coord-a")
    found = client.get("/coordination/patients/recherche", params={"q": patient.birth_family})
    assert found.status_code == 200
    assert f'value="{patient.id}"' in found.text
    assert "Aucun patient" in client.get("/coordination/patients/recherche", params={"q": "zzzzzz"}).text


def test_case_page_regenerates_drafts(as_user: Any, app: Any) -> None:
    from dcc.bootstrap import cda_builder, pdf_renderer
    from dcc.services.documents import generate_documents

    case, _ = _region_a_case(app, decided=True)
    with app.state.database.uow() as uow:
        created = generate_documents(uow, case_ids=[case.id], cda=cda_builder(), pdf=pdf_renderer()).created
    assert created
    client = as_user("coord-a")
    page = client.get(f"/coordination/dossiers/{case.id}")
    assert f'action="/coordination/dossiers/{case.id}/regenerer"' in page.text and "Régénérer" in page.text
    answer = client.post(f"/coordination/dossiers/{case.id}/regenerer", data={"csrf_token": csrf(page.text)})
    assert answer.status_code == 303
    assert "Documents%20r%C3%A9g%C3%A9n%C3%A9r%C3%A9s" in answer.headers["location"] or "régénérés" in \
        client.get(answer.headers["location"]).text
    with app.state.database.uow() as uow:
        ids = set(uow.session.scalars(select(m.Document.id).where(m.Document.case_id == case.id)))
    assert ids and not ids & set(created)


def test_live_check_of_the_traits_against_the_nir(as_user: Any) -> None:
    client = as_user("coord-a")
    token = csrf(client.get("/coordination/dossiers/nouveau").text)
    first13 = "2690575056123"  # woman, born in May 1969 in Paris
    form = {"csrf_token": token, "ins_matricule": first13 + nir_key(first13), "birth_date": "1969-05-14"}

    def check(name: str, value: str) -> str:
        answer = client.post("/coordination/dossiers/verifier", data=form | {name: value},
                             headers={"HX-Request": "true", "HX-Trigger-Name": name})
        assert answer.status_code == 200
        return answer.text

    assert "mais le sexe déclaré est masculin" in check("sex", "M")
    assert "field-error" not in check("sex", "F")
    assert "mois de naissance 05" in check("birth_date", "1969-06-14")
    assert "field-error" not in check("birth_date", "1969-05-01")
    assert "département 75" in check("birthplace_insee", "44109")
    assert "field-error" not in check("birthplace_insee", "75056")
