"""Physician pages: the home's one to-do list sorted by date with French labels, signed documents reopened
(PDF, care team only, audited), the card PIN asked on the sign page with DCC_SIGNER=pkcs11 (or the reader's
PIN pad announced), the unsigned preview that never claims a signature, and a discussed decision refused
without a proposal."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from dcc.adapters.db import models as m
from tests.web import test_pages as pages
from tests.web.helpers_web import DOC_PDF, add_document
from tests.web.test_pages import csrf

app = pages.app  # the page tests' fixture
as_user = pages.as_user  # the page tests' fixture
template_dir = pages.template_dir  # the page tests' fixture


def _my_case(app: Any, login: str = "phys-a1", *, status: str | None = None) -> tuple[str, str]:
    """(my professional id, a case of one of my boards whose patient is outside phys-b1's care team)."""
    from dcc.services import access

    with app.state.database.uow() as uow:
        me = uow.session.scalars(select(m.AppUser.professional_id).where(m.AppUser.login == login)).one()
        boards = list(uow.session.scalars(select(m.BoardMember.board_id).where(m.BoardMember.professional_id == me)))
        b1 = uow.session.scalars(select(m.AppUser).where(m.AppUser.login == "phys-b1")).one()
        outsider = access.User(login=b1.login, role="physician", region_code="B", establishment_id=None,
                               professional_id=b1.professional_id, display_name="")
        q = (select(m.Case.id).where(m.Case.board_id.in_(boards),
                                     m.Case.patient_id.not_in(access.care_team_patients(outsider)))
             .order_by(m.Case.id))
        if status:
            q = q.where(m.Case.status == status)
        case_id = uow.session.scalars(q).first()
    assert me and case_id
    return me, case_id


def test_home_lists_what_to_do_sorted_by_date_in_french(as_user: Any, app: Any) -> None:
    me, case_id = _my_case(app)
    draft, _ = add_document(app.state.database, case_id=case_id, unique_id="1.2.250.1.999.5.1", status="draft",
                            signer_id=me)
    signed, _ = add_document(app.state.database, case_id=case_id, unique_id="1.2.250.1.999.5.2", signer_id=me,
                             destinations={"dmp:A": "delivered"})
    home = as_user("phys-a1").get("/medecin/")
    assert home.status_code == 200
    todo = home.text.split('id="liste-a-faire"')[1].split("</table>")[0]
    assert "Fiche RCP à signer" in todo and "FRCP" not in home.text
    assert "Consultation d&#39;annonce à enregistrer" in todo and "Séance" in todo
    assert f"/medecin/a-signer?apercu={draft}" in todo
    # signed on 3 March 2026, the draft created now: the announcement comes first
    assert todo.index("Consultation d&#39;annonce à enregistrer") < todo.index("Fiche RCP à signer")
    assert f"/medecin/documents/{signed}/document.pdf" in home.text  # a signed document reopens
    for anchor in set(re.findall(r'href="/medecin/#(seance-[0-9a-f-]{36})"', todo)):
        assert f'id="{anchor}"' in home.text  # each session of the list points at its cases


def test_a_signed_document_reopens_for_the_care_team_and_the_read_is_audited(as_user: Any, app: Any) -> None:
    me, case_id = _my_case(app)
    doc_id, _ = add_document(app.state.database, case_id=case_id, unique_id="1.2.250.1.999.5.3", signer_id=me)
    answer = as_user("phys-a1").get(f"/medecin/documents/{doc_id}/document.pdf")
    assert answer.status_code == 200 and answer.content == DOC_PDF
    assert answer.headers["content-type"] == "application/pdf"
    assert "attachment" in answer.headers["content-disposition"]
    with app.state.database.uow() as uow:
        events = uow.session.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "document.pdf_read",
                                                                 m.AuditEvent.entity_id == doc_id)).all()
        assert [e.actor for e in events] == ["phys-a1"]
    assert as_user("phys-b1").get(f"/medecin/documents/{doc_id}/document.pdf").status_code == 404


def test_with_pkcs11_the_sign_page_asks_for_the_card_pin(as_user: Any, app: Any) -> None:
    me, case_id = _my_case(app)
    doc_id, _ = add_document(app.state.database, case_id=case_id, unique_id="1.2.250.1.999.5.4", status="draft",
                             signer_id=me)
    from dcc.config import get_settings

    settings = get_settings()
    app.state.settings = settings.model_copy(update={"signer": "pkcs11", "pkcs11_pin_pad": False})
    client = as_user("phys-a1")
    queue = client.get(f"/medecin/a-signer?apercu={doc_id}")
    assert "Document non signé" in queue.text and "aucune signature électronique n'y est encore apposée" in \
        queue.text
    page = client.post("/medecin/a-signer/confirmer", data={"csrf_token": csrf(queue.text), "document_ids": doc_id})
    assert page.status_code == 200
    assert 'type="password" id="f-pin" name="pin"' in page.text and "Code PIN de votre carte CPS" in page.text
    refused = client.post("/medecin/a-signer/signer", data={"csrf_token": csrf(page.text), "confirmation": "oui",
                                                             "document_ids": doc_id, "pin": ""})
    assert refused.status_code == 422 and "Saisissez le code PIN de votre carte" in refused.text
    with app.state.database.uow() as uow:
        assert uow.session.get(m.Document, doc_id).status == "draft"
    app.state.settings = settings.model_copy(update={"signer": "pkcs11", "pkcs11_pin_pad": True})
    pad = client.post("/medecin/a-signer/confirmer", data={"csrf_token": csrf(queue.text), "document_ids": doc_id})
    assert "clavier du lecteur de carte" in pad.text and 'name="pin"' not in pad.text
    app.state.settings = settings.model_copy(update={"signer": "pkcs12"})
    plain = client.post("/medecin/a-signer/confirmer", data={"csrf_token": csrf(queue.text), "document_ids": doc_id})
    assert 'name="pin"' not in plain.text and "lecteur de carte" not in plain.text


def test_a_discussed_decision_without_proposal_is_refused_in_french(as_user: Any, app: Any) -> None:
    _, case_id = _my_case(app, status="assigned")
    client = as_user("phys-a1")
    form = client.get(f"/medecin/dossiers/{case_id}/decision")
    assert form.status_code == 200
    assert "Référentiel appliqué" in form.text and "Radiologie interventionnelle" in form.text
    assert ">chimiothérapie<" not in form.text and ">Chimiothérapie<" in form.text
    answer = client.post(f"/medecin/dossiers/{case_id}/decision", data={
        "csrf_token": csrf(form.text), "case_status": "discussed", "proposal_text": "", "conform": ""})
    assert answer.status_code == 422
    assert "doit comporter une proposition : cochez au moins un traitement ou rédigez la proposition" in answer.text
    with app.state.database.uow() as uow:
        assert uow.session.scalars(select(m.Decision).where(m.Decision.case_id == case_id)).first() is None
