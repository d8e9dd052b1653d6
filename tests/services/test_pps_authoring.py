"""The PPS is authored, not generated: it states exactly the plan the care team entered (CDA and PDF), its
entries are checked against the value sets, the decided proposal and the meeting day, a nurse authors but never
signs, and a correction never changes the board's proposal (services and HTTP)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import func, select

from dcc.adapters.cda.validate import KitValidator, find_kit
from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.bootstrap import cda_builder, pdf_renderer
from dcc.config import Settings
from dcc.errors import Conflict, SignatureRefused, UnknownCode, ValidationFailed
from dcc.services import pps as pps_services
from dcc.services.content import paris_day
from dcc.services.documents import generate_documents, sign_documents
from dcc.services.pps import PlanInput, PpsItemInput
from dcc.services.seed import seed_users
from dcc.web.app import create_app
from dcc.web.auth import issue_dev_token
from tests.pps_plans import author_plan

NS = {"h": "urn:hl7-org:v3"}
Chain = Any  # tests/services/conftest.py:Chain
SUIVI_CODES = ("MED-091", "MED-092", "11429006", "GEN-092.04.06")  # JDV_TypeDeSuivi_CISIS


def pdf_text(pdf: bytes) -> str:
    if shutil.which("pdftotext"):
        # reading order (not -layout): a table cell's words stay together
        res = subprocess.run(["pdftotext", "-raw", "-", "-"], input=pdf, capture_output=True, check=True)
        text = " ".join(res.stdout.decode("utf-8").replace("\u00a0", " ").split())
        return re.sub(r"(?<=\w)- (?=\w)", "-", text)  # a word cut at its hyphen by the cell's width
    from pypdf import PdfReader

    text = " ".join(" ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages).split())
    return re.sub(r"(?<=\w)- (?=\w)", "-", text)


def _pps_kinds(frcp_codes: list[str]) -> list[str]:
    """The PPS treatment kinds of a decision, written out here (not taken from the code under test): the
    FRCP and PPS value sets share their codes but for hormone therapy and "other specific drug treatments";
    supportive and palliative care are no PPS treatment kind."""
    mapped = [{"C547": "C15445", "GEN-092.03.02": "GEN-092.03.01"}.get(c, c) for c in frcp_codes
              if c not in ("C15747", "C15252")]
    return list(dict.fromkeys(mapped))


def _awaiting(chain: Chain) -> list[tuple[str, str, date, list[str]]]:
    """(case id, board responsible id, meeting day, allowed PPS kinds) of each case awaiting its PPS."""
    out = []
    with chain.db.uow() as uow:
        for case, _ in pps_services.cases_awaiting_pps(uow):
            decision = repo.decision_of_case(uow.session, case.id)
            board = uow.session.get(m.Board, case.board_id)
            assert decision is not None and board is not None
            session = uow.session.get(m.Session, decision.session_id)
            assert session is not None
            out.append((case.id, board.responsible_id, paris_day(session.starts_at),
                        _pps_kinds(decision.proposal_codes)))
    assert out, "the chain must hold a discussed decision calling for a PPS"
    return out


def _kit_check(cda: bytes) -> None:
    """The ANS kit (XSD + 5 schematrons) accepts the document: absent optional data is a nullFlavor."""
    kit = find_kit()
    if kit is None:
        pytest.skip("Kit de test CDA de l'ANS introuvable (DCC_ANS_KIT ou ../shared/ans-cda-kit)")
    report = KitValidator(kit).validate(cda)
    assert report.kind == "PPS" and report.ok, "\n".join(str(f) for f in report.failures)


def _programme(root: etree._Element) -> etree._Element:
    sections = root.xpath("//h:section[h:code/h:translation/@code='GEN-174' or "
                          "contains(h:title, 'PROGRAMME THÉRAPEUTIQUE')]", namespaces=NS)
    assert len(sections) == 1
    return sections[0]


def test_the_pps_states_exactly_the_entered_plan(decided_chain: Chain) -> None:
    db = decided_chain.db
    case_id, responsible_id, day, kinds = _awaiting(decided_chain)[0]
    kind = kinds[0]
    start, end = day + timedelta(days=17), day + timedelta(days=80)
    with db.uow() as uow:
        other = uow.session.scalars(select(m.Professional).where(m.Professional.id != responsible_id)
                                    .order_by(m.Professional.rpps)).first()
        assert other is not None
        other_id, other_family = other.id, other.family
    doc_id = author_plan(db, case_id, [PpsItemInput(
        category="treatment", code=kind, start=start, end=end, place="Hôpital de jour Saint-Exupéry",
        responsible_id=other_id, text="Trois cures espacées de vingt et un jours.")])
    assert doc_id
    doc = decided_chain.documents(id=doc_id)[0]
    assert doc.kind == "PPS" and doc.status == "draft" and doc.signer_id == responsible_id
    root = etree.fromstring(doc.cda)
    programme = _programme(root)
    procedures = programme.xpath("h:entry/h:procedure", namespaces=NS)
    assert len(procedures) == 1  # the one treatment entered, no follow-up invented
    assert procedures[0].xpath("h:code/h:qualifier/h:value/@code", namespaces=NS) == [kind]
    times = procedures[0].xpath(".//h:observation/h:effectiveTime", namespaces=NS)
    assert [(t.find("h:low", NS).get("value"), t.find("h:high", NS).get("value")) for t in times] == [
        (f"{start:%Y%m%d}", f"{end:%Y%m%d}")]
    text = etree.tostring(programme, encoding="unicode")
    assert "Hôpital de jour Saint-Exupéry" in text and "Trois cures espacées de vingt et un jours." in text
    assert other_family in text
    assert not root.xpath("//h:qualifier/h:value[" + " or ".join(f"@code='{c}'" for c in SUIVI_CODES) + "]",
                          namespaces=NS)
    # no supportive care, no social support, no contact: nothing invented
    support = root.xpath("//h:section[contains(h:title, 'SOINS ONCOLOGIQUES DE SUPPORT')]", namespaces=NS)[0]
    assert not support.xpath("h:entry", namespaces=NS)
    assert "Votre contact" not in doc.cda.decode()
    handed = root.xpath("//h:observation[h:code/@code='GEN-178']/h:value", namespaces=NS)
    assert len(handed) == 1 and handed[0].get("nullFlavor") == "NAV"
    # the care team: the professional named in the plan and the referent
    team = root.xpath("/h:ClinicalDocument/h:participant[@typeCode='CON']/h:associatedEntity/h:id/@extension",
                      namespaces=NS)
    with db.uow() as uow:
        rpps = {p.id: p.rpps for p in uow.session.scalars(select(m.Professional))}
    assert sorted(team) == sorted(["8" + rpps[other_id], "8" + rpps[responsible_id]])

    pdf = pdf_text(doc.pdf)
    assert f"{start:%d/%m/%Y}" in pdf and f"{end:%d/%m/%Y}" in pdf
    assert "Saint-Exupéry" in pdf and "vingt et un jours" in pdf, pdf
    assert "Votre suivi" not in pdf and "Pour vous aider pendant les soins" not in pdf
    assert "Contact pour vos soins : non renseigné" in pdf

    # the team changes the plan (correction of the signed version): the new version says exactly the new plan
    with db.uow() as uow:
        sign_documents(uow, document_ids=[doc_id], signer_professional_id=responsible_id, cda=cda_builder(),
                       signers=decided_chain.signers)
    from dcc.services.corrections import CorrectionInput, correct_document

    new_start, follow = day + timedelta(days=31), day + timedelta(days=150)
    plan_b = (PpsItemInput(category="treatment", code=kind, start=new_start, end=new_start,
                           place="Clinique des Lilas", text="Une seule séance."),
              PpsItemInput(category="follow_up", code="MED-092", start=follow, text="IRM de contrôle."))
    with db.uow() as uow:
        v2_id = correct_document(uow, document_id=doc_id, actor="dr.test", changes=CorrectionInput(
            reason="Report.", plan_items=plan_b, update_motive="MED-560"), cda=cda_builder(), pdf=pdf_renderer())
    v2 = decided_chain.documents(id=v2_id)[0]
    root2 = etree.fromstring(v2.cda)
    procs = _programme(root2).xpath("h:entry/h:procedure", namespaces=NS)
    assert [p.xpath("h:code/h:qualifier/h:value/@code", namespaces=NS)[0] for p in procs] == [kind, "MED-092"]
    low = procs[0].xpath(".//h:observation/h:effectiveTime/h:low/@value", namespaces=NS)
    assert low == [f"{new_start:%Y%m%d}"]
    assert procs[1].xpath(".//h:observation/h:effectiveTime/h:low/@value", namespaces=NS) == [f"{follow:%Y%m%d}"]
    cda2 = v2.cda.decode()
    assert "Saint-Exupéry" not in cda2 and "Clinique des Lilas" in cda2 and "IRM de contrôle." in cda2
    pdf2 = pdf_text(v2.pdf)
    assert f"{new_start:%d/%m/%Y}" in pdf2 and f"{start:%d/%m/%Y}" not in pdf2
    assert "Votre suivi" in pdf2 and "IRM de contrôle." in pdf2 and f"{follow:%d/%m/%Y}" in pdf2
    _kit_check(doc.cda)
    _kit_check(v2.cda)


def _audit_count(db: Any, action: str) -> int:
    with db.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(m.AuditEvent)
                                      .where(m.AuditEvent.action == action)) or 0)


def test_entries_are_checked_and_a_refusal_writes_nothing(decided_chain: Chain) -> None:
    db = decided_chain.db
    case_id, _, day, kinds = _awaiting(decided_chain)[0]
    with db.uow() as uow:
        pps_services.open_plan(uow, case_id=case_id, actor="test")
    with db.uow() as uow:
        view = pps_services.plan_view(uow, case_id)
        # pre-listed from the decision only: its treatment kinds, nothing dated nor written
        assert [(i.category, i.code, i.start, i.end, i.place, i.text) for i in view.items] == [
            ("treatment", k, None, None, "", "") for k in kinds]
        assert view.contact_name == view.contact_phone == ""
    other = next(c for c in ("C15632", "C93352", "C15313", "387713003", "C15262") if c not in kinds)
    bad = [
        (PpsItemInput(category="treatment", code=kinds[0], start=day + timedelta(days=9), end=day),
         ValidationFailed, "items[0].end"),
        (PpsItemInput(category="treatment", code=kinds[0], start=day - timedelta(days=1)),
         ValidationFailed, "items[0].start"),
        (PpsItemInput(category="treatment", code=kinds[0], end=day + timedelta(days=3)),
         ValidationFailed, "items[0].start"),
        (PpsItemInput(category="treatment", code=other), ValidationFailed, "items[0].code"),
        (PpsItemInput(category="follow_up", code="C15632"), UnknownCode, "items[0].code"),
        (PpsItemInput(category="supportive", code="ORG-036", start=day + timedelta(days=3)),
         ValidationFailed, "items[0].start"),
        (PpsItemInput(category="social", code="PAT-024", text="x" * 2001), ValidationFailed, "items[0].text"),
        (PpsItemInput(category="autre", code="PAT-024"), ValidationFailed, "items[0].category"),
    ]
    edits = _audit_count(db, "pps.edit")
    for item, error, field_name in bad:
        with db.uow() as uow, pytest.raises(error) as exc:
            pps_services.update_plan(uow, case_id=case_id, data=PlanInput(items=(item,)), actor="test")
        assert exc.value.field == field_name, (item, exc.value.message)
    with db.uow() as uow, pytest.raises(ValidationFailed, match="téléphone") as exc:
        pps_services.update_plan(uow, case_id=case_id, data=PlanInput(items=(), contact_phone="appelez-moi"),
                                 actor="test")
    assert _audit_count(db, "pps.edit") == edits
    with db.uow() as uow:
        assert [(i.code, i.start) for i in pps_services.plan_view(uow, case_id).items] == [(k, None) for k in kinds]
    # a plan without any planned treatment is not submitted
    with db.uow() as uow:
        pps_services.update_plan(uow, case_id=case_id, actor="test", data=PlanInput(
            items=(PpsItemInput(category="supportive", code="ORG-036", text="Diététicienne."),)))
    with db.uow() as uow, pytest.raises(ValidationFailed, match="au moins un traitement programmé"):
        pps_services.submit_plan(uow, case_id=case_id, actor="test", cda=cda_builder(), pdf=pdf_renderer())
    assert not decided_chain.documents(kind="PPS")
    # the hand-over is recorded after signature, never before
    with db.uow() as uow, pytest.raises(Conflict, match="pas encore signé"):
        pps_services.record_handover(uow, case_id=case_id, handed_at=day, actor="test", today=date.today())


def test_a_registered_or_non_quorate_decision_opens_no_pps(decided_chain: Chain) -> None:
    db = decided_chain.db
    case_id = _awaiting(decided_chain)[0][0]
    with db.uow() as uow:
        decision = repo.decision_of_case(uow.session, case_id)
        assert decision is not None
        decision.quorum = "not_met"
        uow.commit()
    with db.uow() as uow, pytest.raises(Conflict, match="quorum"):
        pps_services.open_plan(uow, case_id=case_id, actor="test")
    with db.uow() as uow:
        assert pps_services.plan_of_case(uow, case_id) is None


def test_generation_makes_no_pps(decided_chain: Chain) -> None:
    assert decided_chain.documents(kind="FRCP") and not decided_chain.documents(kind="PPS")
    case_ids = [c for c, *_ in _awaiting(decided_chain)]
    with decided_chain.db.uow() as uow:
        generate_documents(uow, case_ids=case_ids, cda=cda_builder(), pdf=pdf_renderer())
    assert not decided_chain.documents(kind="PPS")


# ---------------------------------------------------------------------------------------------- over HTTP


def _client(chain: Chain, logins: dict[str, tuple[str, str | None, str | None]],
            existing: tuple[str, ...] = ()) -> tuple[TestClient, dict[str, str]]:
    """The app on the chain's database; `logins` (created): login -> (role, professional id, establishment id);
    `existing`: logins already there. Returns the client and each login's Authorization header value."""
    settings = Settings(env="test", auth_mode="dev", session_secret="cle-de-test-" + "x" * 32)
    with chain.db.uow() as uow:
        for login, (role, prof, est) in logins.items():
            uow.session.add(m.AppUser(login=login, role=role, professional_id=prof, establishment_id=est,
                                      display_name=login, active=True))
        uow.commit()
    app = create_app(database=chain.db, settings=settings)
    return TestClient(app), {login: f"Bearer {issue_dev_token(login, settings=settings)}"
                             for login in (*logins, *existing)}


def _nurse_and_responsible(chain: Chain, case_id: str, responsible_id: str) -> tuple[str, str, str]:
    """Seed the demo users; the coordinating nurse works in the board's establishment. Returns the nurse's
    login and professional id, and the login of the case's responsible physician ("dr-resp" when none)."""
    with chain.db.uow() as uow:
        seed_users(uow, region_codes=["A"])
        uow.commit()
        case = uow.session.get(m.Case, case_id)
        assert case is not None
        board = uow.session.get(m.Board, case.board_id)
        assert board is not None
        ide = uow.session.scalars(select(m.AppUser).where(m.AppUser.role == "ide")).first()
        assert ide is not None and ide.professional_id
        ide.establishment_id = board.establishment_id  # the nurse of the board's establishment
        ide_prof, ide_login = ide.professional_id, ide.login
        resp_user = uow.session.scalars(select(m.AppUser).where(m.AppUser.professional_id == responsible_id)).first()
        resp_login = resp_user.login if resp_user else "dr-resp"
        uow.commit()
    return ide_login, ide_prof, resp_login


def test_over_http_a_nurse_authors_and_a_correction_cannot_change_the_proposal(decided_chain: Chain) -> None:
    db = decided_chain.db
    case_id, responsible_id, day, kinds = _awaiting(decided_chain)[0]
    ide_login, ide_prof, resp_login = _nurse_and_responsible(decided_chain, case_id, responsible_id)
    with db.uow() as uow:
        frcp = uow.session.scalars(select(m.Document).where(m.Document.case_id == case_id,
                                                            m.Document.kind == "FRCP")).one()
        frcp_id = frcp.id
    with db.uow() as uow:  # the Fiche RCP is signed: only a signed document is corrected
        sign_documents(uow, document_ids=[frcp_id], signer_professional_id=responsible_id, cda=cda_builder(),
                       signers=decided_chain.signers)
    create = {} if resp_login != "dr-resp" else {"dr-resp": ("physician", responsible_id, None)}
    client, auth = _client(decided_chain, create, existing=(ide_login,) + ((resp_login,) if not create else ()))
    with client:
        ide_auth, dr = {"Authorization": auth[ide_login]}, {"Authorization": auth[resp_login]}
        assert client.get(f"/api/v1/cases/{case_id}/pps", headers=ide_auth).json() == {"opened": False, "plan": None}
        r = client.post(f"/api/v1/cases/{case_id}/pps", headers=ide_auth)
        assert r.status_code == 201, r.text
        assert [i["code"] for i in r.json()["items"]] == kinds
        bad = client.put(f"/api/v1/cases/{case_id}/pps", headers=ide_auth, json={"items": [
            {"category": "treatment", "code": kinds[0], "start": (day - timedelta(days=2)).isoformat()}]})
        assert bad.status_code == 422 and bad.json()["field"] == "items[0].start"
        assert "précède la RCP" in bad.json()["message"]
        start = day + timedelta(days=12)
        r = client.put(f"/api/v1/cases/{case_id}/pps", headers=ide_auth, json={
            "items": [{"category": "treatment", "code": kinds[0], "start": start.isoformat(), "place": "HDJ"}],
            "contact_name": "IDE de coordination", "contact_phone": "02 41 00 00 00"})
        assert r.status_code == 200, r.text
        r = client.post(f"/api/v1/cases/{case_id}/pps/submit", headers=ide_auth)
        assert r.status_code == 201, r.text
        pps_id = r.json()["document_id"]
        todo = client.get("/api/v1/pps/todo", headers=dr).json()
        assert case_id not in [t["case_id"] for t in todo]

        # a Fiche RCP correction that changes the proposal is refused in French, naming the field
        for body, field_name in (({"proposal_text": "Radiothérapie seule."}, "proposal_text"),
                                 ({"proposal_codes": ["C15313"]}, "proposal_codes")):
            r = client.post(f"/api/v1/documents/{frcp_id}/corrections", headers=dr,
                            json={"reason": "Erreur de saisie.", **body})
            assert r.status_code == 422, r.text
            assert r.json()["field"] == field_name
            assert "la proposition de la RCP ne peut être modifiée que par une nouvelle présentation en RCP" in \
                r.json()["message"]
        # the nurse never corrects nor signs
        r = client.post(f"/api/v1/documents/{frcp_id}/corrections", headers=ide_auth,
                        json={"reason": "x", "comment": "y"})
        assert r.status_code in (403, 404)
    assert len(decided_chain.documents(case_id=case_id, kind="FRCP")) == 1  # nothing written
    with db.uow() as uow:
        decision = repo.decision_of_case(uow.session, case_id)
        assert decision is not None and not [e for e in repo.audit_events(uow.session)
                                             if e.action == "decision.correct"]
    with db.uow() as uow, pytest.raises(SignatureRefused, match="n'est pas médecin"):
        sign_documents(uow, document_ids=[pps_id], signer_professional_id=ide_prof, cda=cda_builder(),
                       signers=decided_chain.signers)
    assert decided_chain.documents(id=pps_id)[0].status == "draft"


def test_pages_the_nurse_authors_and_the_physician_sees_it_to_complete(decided_chain: Chain) -> None:
    import re

    case_id, responsible_id, day, kinds = _awaiting(decided_chain)[0]
    ide_login, _, resp_login = _nurse_and_responsible(decided_chain, case_id, responsible_id)
    create = {} if resp_login != "dr-resp" else {"dr-resp": ("physician", responsible_id, None)}
    client, auth = _client(decided_chain, create, existing=(ide_login,) + ((resp_login,) if not create else ()))
    with client:
        home = client.get("/medecin/", headers={"Authorization": auth[resp_login]})
        assert home.status_code == 200 and "PPS à compléter" in home.text and f"/pps/dossiers/{case_id}" in home.text
        nurse = {"Authorization": auth[ide_login]}
        assert client.get("/pps/", headers=nurse).status_code == 200
        page = client.get(f"/pps/dossiers/{case_id}", headers=nurse)
        assert page.status_code == 200 and "Ouvrir le PPS" in page.text

        def csrf(html: str) -> str:
            found = re.search(r'name="csrf_token" value="([^"]+)"', html)
            assert found
            return found.group(1)

        r = client.post(f"/pps/dossiers/{case_id}/ouvrir", headers=nurse, data={"csrf_token": csrf(page.text)},
                        follow_redirects=False)
        assert r.status_code == 303
        page = client.get(f"/pps/dossiers/{case_id}", headers=nurse)
        bad = client.post(f"/pps/dossiers/{case_id}/lignes", headers=nurse, data={
            "csrf_token": csrf(page.text), "category": "follow_up", "code": "MED-092",
            "start": (day - timedelta(days=1)).isoformat()})
        assert bad.status_code == 422 and "précède la RCP" in bad.text
        ok = client.post(f"/pps/dossiers/{case_id}/lignes", headers=nurse, follow_redirects=False, data={
            "csrf_token": csrf(page.text), "category": "follow_up", "code": "MED-092",
            "start": (day + timedelta(days=90)).isoformat(), "text": "Scanner de contrôle."})
        assert ok.status_code == 303
        r = client.post(f"/pps/dossiers/{case_id}/soumettre", headers=nurse, data={"csrf_token": csrf(page.text)},
                        follow_redirects=False)
        assert r.status_code == 303
    pps = decided_chain.documents(case_id=case_id, kind="PPS")
    assert len(pps) == 1 and pps[0].status == "draft" and pps[0].signer_id == responsible_id
    assert "Scanner de contrôle." in pps[0].cda.decode()
