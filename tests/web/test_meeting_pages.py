"""Meeting mode through the test client: the agenda with each case's summary, the sign-in sheet (presence
recorded one member at a time with the quorum answered as an htmx fragment, guests who never count for the
quorum), the decision entered by the coordinator during the meeting, and the validation with confirmation."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from dcc.adapters.db import models as m
from tests.web import test_pages as pages
from tests.web.test_pages import _planned_session_with_cases, csrf

app = pages.app  # the page tests' fixture
as_user = pages.as_user  # the page tests' fixture
template_dir = pages.template_dir  # the page tests' fixture


def _members(app: Any, session_id: str) -> list[m.Professional]:
    with app.state.database.uow() as uow:
        board_id = uow.session.get(m.Session, session_id).board_id
        rows = list(uow.session.scalars(
            select(m.Professional).join(m.BoardMember, m.BoardMember.professional_id == m.Professional.id)
            .where(m.BoardMember.board_id == board_id)))
        uow.session.expunge_all()
        return rows


def test_meeting_page_shows_the_agenda_and_each_case_summary(as_user: Any, app: Any) -> None:
    session_id, case_ids = _planned_session_with_cases(app)
    client = as_user("coord-a")
    agenda = client.get(f"/coordination/seances/{session_id}")
    assert f'href="/coordination/seances/{session_id}/reunion"' in agenda.text
    page = client.get(f"/coordination/seances/{session_id}/reunion")
    assert page.status_code == 200
    order = re.findall(r'<li id="dossier-([0-9a-f-]{36})" class="meeting-case">', page.text)
    assert sorted(order) == sorted(case_ids)
    with app.state.database.uow() as uow:
        cases = {c.id: (c.urgent, c.topography_code)
                 for c in uow.session.scalars(select(m.Case).where(m.Case.id.in_(case_ids)))}
    # urgent cases first, each with its question and the attachments placeholder
    urgencies = [cases[c][0] for c in order]
    assert urgencies == sorted(urgencies, reverse=True)
    block = page.text.split(f'id="dossier-{order[0]}"')[1].split("</li>")[0]
    assert cases[order[0]][1] in block and "aucune pièce jointe" in block  # none attached in the scenario
    assert "Question posée" in block and "Saisir la décision" in block
    assert "Quorum : <strong" in page.text and "ne comptent pas pour le quorum" in page.text


def test_presence_changes_answer_the_quorum_live_and_guests_do_not_count(as_user: Any, app: Any) -> None:
    session_id, _ = _planned_session_with_cases(app)
    members = _members(app, session_id)
    client = as_user("coord-a")
    page = client.get(f"/coordination/seances/{session_id}/reunion")
    token = csrf(page.text)
    statuses = []
    for p in members:
        answer = client.post(f"/coordination/seances/{session_id}/reunion/presence",
                             data={"csrf_token": token, "professional_id": p.id, f"presence-{p.id}": "present"},
                             headers={"HX-Request": "true"})
        assert answer.status_code == 200
        assert answer.text.lstrip().startswith('<div id="quorum-direct"')  # the fragment, not a page
        assert "<html" not in answer.text
        statuses.append(re.search(r'id="etat-quorum" class="quorum-(\w+)"', answer.text).group(1))
    assert statuses[-1] == "met"
    with app.state.database.uow() as uow:
        assert uow.session.get(m.Session, session_id).quorum == "met"
    # everybody leaves but one member; a guest expert signs in: no quorum
    for p in members[1:]:
        client.post(f"/coordination/seances/{session_id}/reunion/presence",
                    data={"csrf_token": token, "professional_id": p.id, f"presence-{p.id}": "absent"},
                    headers={"HX-Request": "true"})
    added = client.post(f"/coordination/seances/{session_id}/reunion/invites", data={
        "csrf_token": token, "name": "Dr Paul Externe", "kind": "expert", "affiliation": "CHU voisin",
        "mode": "remote"})
    assert added.status_code == 303
    after = client.get(added.headers["location"]).text
    assert "Dr Paul Externe — expert extérieur, CHU voisin (à distance)" in after
    assert "(ne compte pas pour le quorum)" in after
    with app.state.database.uow() as uow:
        assert uow.session.get(m.Session, session_id).quorum == "not_met"
        assert uow.session.scalars(select(m.MeetingGuest.name).where(
            m.MeetingGuest.session_id == session_id)).all() == ["Dr Paul Externe"]


def test_a_guest_without_a_name_or_a_non_member_is_refused_in_french(as_user: Any, app: Any) -> None:
    session_id, _ = _planned_session_with_cases(app)
    client = as_user("coord-a")
    token = csrf(client.get(f"/coordination/seances/{session_id}/reunion").text)
    refused = client.post(f"/coordination/seances/{session_id}/reunion/invites",
                          data={"csrf_token": token, "name": " ", "kind": "resident"})
    assert refused.status_code == 422 and "indiquez son nom" in refused.text
    with app.state.database.uow() as uow:
        other = uow.session.scalars(select(m.Professional.id).where(
            m.Professional.id.not_in([p.id for p in _members(app, session_id)]))).first()
        assert uow.session.scalars(select(m.MeetingGuest).where(m.MeetingGuest.session_id == session_id)).all() == []
    answer = client.post(f"/coordination/seances/{session_id}/reunion/presence",
                         data={"csrf_token": token, "professional_id": other, f"presence-{other}": "present"},
                         headers={"HX-Request": "true"})
    assert answer.status_code == 422 and "inscrivez-le comme invité" in answer.text
    with app.state.database.uow() as uow:
        assert uow.session.scalars(select(m.Attendance).where(m.Attendance.session_id == session_id)).all() == []


def test_another_region_cannot_open_the_meeting(as_user: Any, app: Any) -> None:
    session_id, _ = _planned_session_with_cases(app)
    assert as_user("coord-b").get(f"/coordination/seances/{session_id}/reunion").status_code == 404
    assert as_user("phys-a1").get(f"/coordination/seances/{session_id}/reunion").status_code == 403


def test_coordinator_enters_the_decision_during_the_meeting(as_user: Any, app: Any) -> None:
    session_id, case_ids = _planned_session_with_cases(app)
    case_id = case_ids[0]
    client = as_user("coord-a")
    url = f"/coordination/seances/{session_id}/reunion/dossiers/{case_id}/decision"
    form = client.get(url)
    assert form.status_code == 200 and f'action="{url}"' in form.text
    assert "Hormonothérapie" in form.text and "Intervention chirurgicale" in form.text  # capitalised labels
    empty = client.post(url, data={"csrf_token": csrf(form.text), "case_status": "discussed", "conform": ""})
    assert empty.status_code == 422
    assert "doit comporter une proposition" in empty.text
    with app.state.database.uow() as uow:
        assert uow.session.scalars(select(m.Decision).where(m.Decision.case_id == case_id)).first() is None
    done = client.post(url, data={"csrf_token": csrf(form.text), "case_status": "discussed",
                                  "proposal_codes": "C15632", "proposal_text": "Chimiothérapie néoadjuvante.",
                                  "conform": "oui", "referential_name": "Référentiel régional sein 2025"})
    assert done.status_code == 303 and done.headers["location"].startswith(
        f"/coordination/seances/{session_id}/reunion")
    page = client.get(done.headers["location"]).text
    block = page.split(f'id="dossier-{case_id}"')[1].split("</li>")[0]
    assert "discuté en séance : Chimiothérapie — Chimiothérapie néoadjuvante." in block
    with app.state.database.uow() as uow:
        decision = uow.session.scalars(select(m.Decision).where(m.Decision.case_id == case_id)).one()
        assert decision.proposal_codes == ["C15632"]
        assert uow.session.get(m.Case, case_id).referential_name == "Référentiel régional sein 2025"


def test_validation_asks_for_confirmation_then_validates(as_user: Any, app: Any) -> None:
    session_id, case_ids = _planned_session_with_cases(app)
    client = as_user("coord-a")
    page = client.get(f"/coordination/seances/{session_id}/reunion")
    ask = client.post(f"/coordination/seances/{session_id}/reunion/valider", data={"csrf_token": csrf(page.text)})
    assert ask.status_code == 200 and "Confirmer la validation" in ask.text
    assert "Des dossiers n'ont pas de décision" in ask.text
    with app.state.database.uow() as uow:  # nothing written yet
        assert uow.session.get(m.Session, session_id).status == "planned"
    done = client.post(f"/coordination/seances/{session_id}/reunion/valider",
                       data={"csrf_token": csrf(ask.text), "confirmation": "oui", "confirmer": "oui"})
    assert done.status_code == 303
    after = client.get(done.headers["location"]).text
    assert "Séance validée" in after and "Inscrire l&#39;invité" not in after
    with app.state.database.uow() as uow:
        assert uow.session.get(m.Session, session_id).status == "validated"
        assert all(uow.session.get(m.Case, c).session_id != session_id for c in case_ids)


def test_confirmed_validation_without_the_undecided_consent_lists_them(as_user: Any, app: Any) -> None:
    session_id, case_ids = _planned_session_with_cases(app)
    client = as_user("coord-a")
    page = client.get(f"/coordination/seances/{session_id}/reunion")
    answer = client.post(f"/coordination/seances/{session_id}/reunion/valider",
                         data={"csrf_token": csrf(page.text), "confirmation": "oui"})
    assert answer.status_code == 409 and "n&#39;ont pas de décision" in answer.text
    assert 'name="confirmer" value="oui"' in answer.text
    with app.state.database.uow() as uow:
        assert uow.session.get(m.Session, session_id).status == "planned"
