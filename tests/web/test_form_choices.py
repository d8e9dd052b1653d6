"""The decision, PPS and case pages on SQLite and PostgreSQL (`database`): the choices of the decision and PPS
forms come from the value-set versions in force in the database (an import adds and retires choices; the
package's JSON is only the baseline), and the coordinator enters the first-treatment date on the case page
(French errors, nothing written when refused)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.adapters.referentials import read_path
from dcc.services import boards as board_services
from dcc.services import demo as demo_services
from dcc.services import referentials
from dcc.services.seed import seed_directory, seed_patients, seed_users
from dcc.services.uow import Database
from tests.e2e import browser_scenario as cb
from tests.services.test_referentials import svs
from tests.web.test_pages import csrf, login

TODAY = date(2026, 3, 2)  # a Monday, as the browser scenario


@dataclass
class World:
    db: Database
    app: Any
    decided: list[str]


def build_world(db: Database, var: Path) -> World:
    """The browser scenario's steps on the `database` fixture: directory, demo users, patients, sessions, a
    first wave of cases held in meetings (decisions locked), a second wave assigned to coming sessions."""
    with db.uow() as uow:
        seeded = seed_directory(uow, seed=3, regions=1)
        patient_ids = seed_patients(uow, seed=3, count=6, region_codes=seeded.regions)
        seed_users(uow, region_codes=seeded.regions)
        uow.commit()
    with db.uow() as uow:
        board_services.plan_sessions(uow, today=TODAY, horizon_weeks=6)
    demo_services.register_demo_cases(db, patient_ids=patient_ids, seed=3, today=TODAY)
    with db.uow() as uow:
        board_services.assign_cases(uow, today=TODAY)
    meeting = demo_services.hold_meetings(db, seed=3, today=TODAY, quorum_failure_rate=0.0)
    demo_services.register_demo_cases(db, patient_ids=patient_ids[:3], seed=4, today=TODAY)
    with db.uow() as uow:
        board_services.assign_cases(uow, today=TODAY)
    app = cb.make_app(cb.Scenario(database=db, today=TODAY, var_dir=var))
    return World(db=db, app=app, decided=list(meeting.decided_cases))


@pytest.fixture
def world(database: Database, tmp_path: Path) -> World:
    return build_world(database, tmp_path / "var")


@pytest.fixture
def signed_in(world: World) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(who: str) -> TestClient:
        client = TestClient(world.app, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        login(client, who)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def import_version(db: Database, tmp_path: Path, system: str, *, drop: str, add: tuple[str, str]) -> None:
    """A new version of `system` as the agency ships it: the codes in force without `drop`, with `add`."""
    with db.uow() as uow:
        active = [(c.code, c.label, "") for c in uow.session.scalars(select(m.ReferentialConcept).where(
            m.ReferentialConcept.system == system, m.ReferentialConcept.active.is_(True)))]
    assert drop in {code for code, _, _ in active}
    path = tmp_path / f"{system}.xml"
    path.write_text(svs(system, "2026-02-01", [c for c in active if c[0] != drop] + [(*add, "")]),
                    encoding="utf-8")
    with db.uow() as uow:
        [report] = referentials.import_referentials(uow, read_path(path), actor="test", today=TODAY)
    assert report.diff.added == (add[0],) and report.diff.retired == (drop,)


def _undecided_case(world: World, login_name: str, coordinator: str = "coord-a") -> str:
    """An assigned case of a board `login_name` (a physician) is a member of and `coordinator` coordinates
    (the board of the coordinator's establishment)."""
    with world.db.uow() as uow:
        prof = uow.session.scalars(select(m.AppUser.professional_id).where(m.AppUser.login == login_name)).one()
        establishment = uow.session.scalars(select(m.AppUser.establishment_id)
                                            .where(m.AppUser.login == coordinator)).one()
        case_id = uow.session.scalars(
            select(m.Case.id).join(m.BoardMember, m.BoardMember.board_id == m.Case.board_id)
            .join(m.Board, m.Board.id == m.Case.board_id)
            .where(m.BoardMember.professional_id == prof, m.Case.status == "assigned",
                   m.Board.establishment_id == establishment,
                   m.Case.session_id.is_not(None)).order_by(m.Case.id)).first()
    assert case_id is not None
    return case_id


def test_decision_form_offers_the_treatment_kinds_in_force(world: World, signed_in: Any, tmp_path: Path) -> None:
    client = signed_in("phys-a1")
    case_id = _undecided_case(world, "phys-a1")
    before = client.get(f"/medecin/dossiers/{case_id}/decision")
    assert before.status_code == 200, before.text
    assert 'value="C15195"' in before.text  # curiethérapie, in the package's baseline
    assert "Protonthérapie régionale (test)" not in before.text
    import_version(world.db, tmp_path, "JDV_TypeTraitement_FRCP_CISIS", drop="C15195",
                   add=("TEST-RT-01", "protonthérapie régionale (test)"))
    after = client.get(f"/medecin/dossiers/{case_id}/decision")
    assert 'value="TEST-RT-01"' in after.text
    assert "Protonthérapie régionale (test)" in after.text  # the form capitalises the value set's label
    assert 'value="C15195"' not in after.text  # retired by the imported version: no longer offered
    # the new choice is recorded (checked against the same version in force)
    recorded = client.post(f"/medecin/dossiers/{case_id}/decision", data={
        "csrf_token": csrf(after.text), "case_status": "discussed", "proposal_codes": "TEST-RT-01",
        "proposal_text": "", "conform": ""})
    assert recorded.status_code == 303, recorded.text
    with world.db.uow() as uow:
        assert uow.session.scalars(select(m.Decision.proposal_codes).where(m.Decision.case_id == case_id)).one() \
            == ["TEST-RT-01"]
        session_id, establishment = uow.session.execute(
            select(m.Case.session_id, m.Board.establishment_id).join(m.Board, m.Board.id == m.Case.board_id)
            .where(m.Case.id == case_id)).one()
        coordinator = uow.session.scalars(select(m.AppUser.login).where(
            m.AppUser.role == "coordinator", m.AppUser.establishment_id == establishment)).first()
    assert coordinator is not None
    # the meeting mode names it with the database's label too
    meeting = signed_in(coordinator).get(f"/coordination/seances/{session_id}/reunion")
    assert meeting.status_code == 200, meeting.text
    assert "discuté en séance : Protonthérapie régionale (test)" in meeting.text


def _decided_case_of(world: World, login_name: str) -> str:
    """A decided case (quorate, discussed, locked) of the establishment of `login_name` (a nurse)."""
    with world.db.uow() as uow:
        user = uow.session.scalars(select(m.AppUser).where(m.AppUser.login == login_name)).one()
        case_id = uow.session.scalars(
            select(m.Case.id).join(m.Board, m.Board.id == m.Case.board_id)
            .join(m.Decision, m.Decision.case_id == m.Case.id)
            .where(m.Board.establishment_id == user.establishment_id, m.Case.status == "decided",
                   m.Decision.case_status == "discussed", m.Decision.quorum == "met")
            .order_by(m.Case.id)).first()
    assert case_id is not None
    return case_id


def test_pps_form_offers_the_supportive_care_in_force(world: World, signed_in: Any, tmp_path: Path) -> None:
    client = signed_in("ide-a")
    case_id = _decided_case_of(world, "ide-a")
    page = client.get(f"/pps/dossiers/{case_id}")
    opened = client.post(f"/pps/dossiers/{case_id}/ouvrir", data={"csrf_token": csrf(page.text)})
    assert opened.status_code == 303, opened.text
    with world.db.uow() as uow:
        baseline = uow.session.scalars(select(m.ReferentialConcept.code).where(
            m.ReferentialConcept.system == "JDV_SoinsOncoDeSupport_CISIS").order_by(m.ReferentialConcept.id)).first()
    assert baseline is not None
    before = client.get(f"/pps/dossiers/{case_id}").text
    select_before = before.split('id="code-supportive"', 1)[1].split("</select>", 1)[0]
    assert f'value="{baseline}"' in select_before and "TEST-SUP-01" not in select_before
    # a line entered with the baseline code keeps its label after the code is retired
    added = client.post(f"/pps/dossiers/{case_id}/lignes", data={
        "csrf_token": csrf(before), "category": "supportive", "code": baseline, "text": "Consultation."})
    assert added.status_code == 303, added.text
    with world.db.uow() as uow:
        label = uow.session.scalars(select(m.ReferentialConcept.label).where(
            m.ReferentialConcept.system == "JDV_SoinsOncoDeSupport_CISIS",
            m.ReferentialConcept.code == baseline)).one()
    import_version(world.db, tmp_path, "JDV_SoinsOncoDeSupport_CISIS", drop=baseline,
                   add=("TEST-SUP-01", "Atelier régional d'activité physique adaptée (test)"))
    after = client.get(f"/pps/dossiers/{case_id}").text
    select_after = after.split('id="code-supportive"', 1)[1].split("</select>", 1)[0]
    assert 'value="TEST-SUP-01"' in select_after and "Atelier régional d&#39;activité physique" in select_after
    assert f'value="{baseline}"' not in select_after
    table = after.split('id="s-supportive"', 1)[1].split("</table>", 1)[0]
    assert f"<td>{label}</td>" in table.replace("&#39;", "'")  # the entered line, its label from the database


def test_coordinator_enters_the_first_treatment_date_on_the_case_page(world: World, signed_in: Any) -> None:
    client = signed_in("coord-a")
    case_id = _decided_case_of(world, "coord-a")
    with world.db.uow() as uow:
        case = uow.session.get(m.Case, case_id)
        assert case is not None and case.diagnosis_date is not None and case.first_treatment_date is None
        diagnosed = case.diagnosis_date
    url = f"/coordination/dossiers/{case_id}"
    page = client.get(url)
    assert page.status_code == 200, page.text
    assert '<dd id="date-premier-traitement">non renseignée</dd>' in page.text
    token = csrf(page.text)
    refusals = [
        ("2026-03-03", 422, "La date du premier traitement ne peut pas être dans le futur."),
        (date.fromordinal(diagnosed.toordinal() - 1).isoformat(), 422,
         f"précède la date du diagnostic ({diagnosed:%d/%m/%Y})."),
        ("03/2026", 422, "Date du premier traitement invalide : « 03/2026 » (attendu AAAA-MM-JJ)."),
    ]
    for value, status, message in refusals:
        answer = client.post(f"{url}/premier-traitement", data={"csrf_token": token, "first_treatment_date": value})
        assert answer.status_code == status, answer.text
        assert message in answer.text and 'role="alert"' in answer.text
        assert f'value="{value}"' in answer.text  # what was typed is shown again
    with world.db.uow() as uow:
        stored = uow.session.get(m.Case, case_id)
        assert stored is not None and stored.first_treatment_date is None  # nothing written
        assert not uow.session.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "case.first_treatment")).all()
    done = client.post(f"{url}/premier-traitement", data={"csrf_token": token, "first_treatment_date": "2026-02-27"})
    assert done.status_code == 303
    page = client.get(url).text
    assert '<dd id="date-premier-traitement">27 février 2026 (saisie par coord-a)</dd>' in page
    with world.db.uow() as uow:
        stored = uow.session.get(m.Case, case_id)
        assert stored is not None and stored.first_treatment_date == date(2026, 2, 27)
        [event] = uow.session.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "case.first_treatment"))
        assert event.actor == "coord-a"
    cleared = client.post(f"{url}/premier-traitement", data={"csrf_token": token, "first_treatment_date": ""})
    assert cleared.status_code == 303
    assert '<dd id="date-premier-traitement">non renseignée</dd>' in client.get(url).text


def test_a_physician_cannot_post_the_coordinator_form(world: World, signed_in: Any) -> None:
    client = signed_in("phys-a1")
    token = csrf(client.get("/medecin/").text)
    answer = client.post(f"/coordination/dossiers/{world.decided[0]}/premier-traitement",
                         data={"csrf_token": token, "first_treatment_date": "2026-02-27"})
    assert answer.status_code == 403 and "pas accessible avec votre rôle" in answer.text


# ------------------------------------------------------------------------------ drugs and acts in the proposal


def _load_drugs_and_acts(world: World, tmp_path: Path) -> dict[str, str]:
    from tests.services.test_proposal_entries import load_drugs_and_acts

    return load_drugs_and_acts(world.db, tmp_path)


def test_physician_adds_drugs_and_acts_then_records_the_decision(world: World, signed_in: Any,
                                                                 tmp_path: Path) -> None:
    versions = _load_drugs_and_acts(world, tmp_path)
    client = signed_in("phys-a1")
    case_id = _undecided_case(world, "phys-a1")
    url = f"/medecin/dossiers/{case_id}/decision"
    page = client.get(url).text
    assert '<label for="f-drug_query">Ajouter un médicament</label>' in page
    assert '<label for="f-act_query">Ajouter un acte</label>' in page
    token = csrf(page)
    # suggestions as you type: ATC then UCD for drugs, from the referential search
    hints = client.get("/decision/suggestions/medicament", params={"drug_query": "carbo"})
    assert hints.status_code == 200
    assert hints.text.split("\n")[:2] == ['<option value="L01XA02">L01XA02 — carboplatine (ATC)</option>',
                                          '<option value="9261234">9261234 — CARBOPLATINE 10 MG/ML SOL INJ (UCD)'
                                          '</option>']
    assert "QEFA005" in client.get("/decision/suggestions/acte", params={"act_query": "tumorect"}).text
    assert client.get("/decision/suggestions/inconnu", params={"q": "x"}).status_code == 404
    # htmx « Ajouter »: the block comes back with the entry (a hidden field) and a status message
    htmx = {"HX-Request": "true", "X-CSRF-Token": token}
    added = client.post("/decision/entrees/medicament", headers=htmx,
                        data={"ajouter": "drug", "drug_query": "L01CD01 — paclitaxel (ATC)"})
    assert added.status_code == 200, added.text
    assert '<input type="hidden" name="drug_codes" value="L01CD01">' in added.text
    assert "Ajouté : paclitaxel (ATC L01CD01)." in added.text and f"version {versions['ATC']}" in added.text
    refused = client.post("/decision/entrees/medicament", headers=htmx,
                          data={"ajouter": "drug", "drug_query": "L01ZZ99", "drug_codes": "L01CD01"})
    assert "le code « L01ZZ99 » n&#39;appartient pas au référentiel ATC en vigueur" in refused.text
    assert 'aria-invalid="true"' in refused.text and 'value="L01CD01"' in refused.text
    removed = client.post("/decision/entrees/medicament", headers=htmx,
                          data={"retirer_drug": "L01CD01", "drug_codes": ["L01CD01", "9261234"]})
    assert 'name="drug_codes" value="L01CD01"' not in removed.text and 'value="9261234"' in removed.text
    # without JavaScript the same button posts the whole form: the form comes back, nothing recorded
    form = {"csrf_token": token, "case_status": "discussed", "proposal_codes": "387713003", "proposal_text": "",
            "conform": "", "drug_codes": "9261234", "act_query": "QEFA005", "ajouter": "act"}
    again = client.post(url, data=form)
    assert again.status_code == 200
    assert '<input type="hidden" name="act_codes" value="QEFA005">' in again.text
    with world.db.uow() as uow:
        assert uow.session.scalars(select(m.Decision).where(m.Decision.case_id == case_id)).first() is None
    # recorded: unknown code refused with the French message and nothing written, then the good ones stored
    bad = client.post(url, data={**{k: v for k, v in form.items() if k not in ("ajouter", "act_query")},
                                 "act_codes": ["QEFA005", "ZZZZ999"]})
    assert bad.status_code == 422
    assert "Acte (CCAM) (act_codes) : le code « ZZZZ999 » n&#39;appartient pas" in bad.text
    with world.db.uow() as uow:
        assert uow.session.scalars(select(m.Decision).where(m.Decision.case_id == case_id)).first() is None
    typed = client.post(url, data={**{k: v for k, v in form.items() if k != "ajouter"}, "act_codes": "QEFA005"})
    assert typed.status_code == 422  # a code typed but not added is not silently dropped
    assert "« QEFA005 » a été saisi mais pas ajouté" in typed.text
    done = client.post(url, data={**{k: v for k, v in form.items() if k not in ("ajouter", "act_query")},
                                  "act_codes": "QEFA005"})
    assert done.status_code == 303, done.text
    with world.db.uow() as uow:
        entries = uow.session.scalars(select(m.Decision.proposal_entries).where(m.Decision.case_id == case_id)).one()
    assert [(e["system"], e["code"], e["version"]) for e in entries] == [
        ("UCD", "9261234", "2025-01"), ("CCAM", "QEFA005", versions["CCAM"])]
    shown = client.get(url).text  # the form shows what was recorded
    assert '<input type="hidden" name="drug_codes" value="9261234">' in shown
    assert "Tumorectomie du sein" in shown


def test_a_locked_decision_page_shows_its_drugs_and_acts(world: World, signed_in: Any, tmp_path: Path) -> None:
    from dcc.services import proposal_entries

    _load_drugs_and_acts(world, tmp_path)
    with world.db.uow() as uow:
        found = uow.session.execute(
            select(m.Decision, m.AppUser.login).join(m.Case, m.Case.id == m.Decision.case_id)
            .join(m.BoardMember, m.BoardMember.board_id == m.Case.board_id)
            .join(m.AppUser, m.AppUser.professional_id == m.BoardMember.professional_id)
            .where(m.Decision.case_id.in_(world.decided), m.AppUser.role == "physician")
            .order_by(m.Decision.id)).first()
        assert found is not None, "no decided case of a board with a physician login"
        decision, member = found
        assert decision.locked
        decision.proposal_entries = proposal_entries.resolve(uow, drugs=["L01CD01"], acts=["QEFA003"])
        case_id = decision.case_id
        uow.commit()
    page = signed_in(member).get(f"/medecin/dossiers/{case_id}/decision").text
    assert "la décision est verrouillée" in page
    listed = page.split('id="entrees-enregistrees"', 1)[1].split("</ul>", 1)[0]
    assert "Médicament : paclitaxel" in listed and "Acte : Mastectomie totale" in listed


def test_the_decision_api_takes_and_returns_drugs_and_acts(world: World, signed_in: Any, tmp_path: Path) -> None:
    versions = _load_drugs_and_acts(world, tmp_path)
    client = signed_in("phys-a1")
    case_id = _undecided_case(world, "phys-a1")
    with world.db.uow() as uow:
        session_id = uow.session.scalars(select(m.Case.session_id).where(m.Case.id == case_id)).one()
    headers = {"X-CSRF-Token": csrf(client.get("/medecin/").text)}
    body = {"session_id": session_id, "case_status": "discussed", "proposal_codes": ["387713003"],
            "drug_codes": ["L01CD01"], "act_codes": ["QEFA003", "QEFA999"]}
    refused = client.post(f"/api/v1/cases/{case_id}/decision", json=body, headers=headers)
    assert refused.status_code == 422, refused.text
    assert "le code « QEFA999 » n'appartient pas au référentiel CCAM" in refused.json()["message"]
    body["act_codes"] = ["QEFA003"]
    answer = client.post(f"/api/v1/cases/{case_id}/decision", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["proposal_entries"] == [
        {"kind": "drug", "system": "ATC", "code": "L01CD01", "code_system": "2.16.840.1.113883.6.73",
         "label": "paclitaxel", "version": versions["ATC"]},
        {"kind": "act", "system": "CCAM", "code": "QEFA003", "code_system": "1.2.250.1.213.2.5",
         "label": "Mastectomie totale avec curage lymphonodal axillaire", "version": versions["CCAM"]}]
