"""Documents on the coordinator's case page: every version with its state in French, its delivery state per
recipient in words, the PDF download (scope checked, read audited), the PPS authoring link."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from dcc.adapters.db import models as m
from tests.web import test_pages as pages
from tests.web.helpers_web import DOC_PDF, add_document

template_dir = pages.template_dir  # the page tests' fixtures
app = pages.app
as_user = pages.as_user


def _case_of_coord_a(app: Any, client: Any) -> str:
    with app.state.database.uow() as uow:
        case_ids = list(uow.session.scalars(select(m.Case.id).where(m.Case.status == "decided").order_by(m.Case.id)))
    return next(c for c in case_ids if client.get(f"/coordination/dossiers/{c}").status_code == 200)


def test_case_page_lists_every_version_with_its_state_and_deliveries(as_user: Any, app: Any) -> None:
    client = as_user("coord-a")
    case_id = _case_of_coord_a(app, client)
    db = app.state.database
    old, _ = add_document(db, case_id=case_id, unique_id="1.2.250.1.999.6.1", status="superseded")
    sent, msgs = add_document(db, case_id=case_id, unique_id="1.2.250.1.999.6.2", status="delivered",
                              destinations={"dmp:A": "delivered", "mss:A": "dead"})
    draft, _ = add_document(db, case_id=case_id, unique_id="1.2.250.1.999.6.3", status="draft", kind="PPS")
    with db.uow() as uow:
        uow.session.get(m.OutboxMessage, msgs["mss:A"]).hold_reason = "Adresse MSSanté refusée par l'opérateur"
        uow.commit()
    page = client.get(f"/coordination/dossiers/{case_id}")
    assert page.status_code == 200
    html = page.text

    def card(doc_id: str) -> str:
        return html.split(f'id="document-{doc_id}"')[1].split("</li>\n")[0]

    assert 'class="etat-document">remplacé<' in card(old)
    assert 'class="etat-document">envoyé<' in card(sent)
    assert 'class="etat-document">brouillon, à signer<' in card(draft) and "PPS, version 1" in card(draft)
    assert "Fiche RCP, version 1" in card(sent)
    assert "DMP (région A) (dépôt) : délivré<" in card(sent)
    assert "MSSanté : destinataires du document (dépôt) : lettre morte — Adresse MSSanté refusée" in card(sent)
    assert "aucun avant la signature" in card(draft)
    for doc_id in (old, sent, draft):
        assert f'/coordination/dossiers/{case_id}/documents/{doc_id}/document.pdf' in card(doc_id)
    assert f'href="/pps/dossiers/{case_id}"' in html


def test_pdf_download_is_scoped_and_audited(as_user: Any, app: Any) -> None:
    client = as_user("coord-a")
    case_id = _case_of_coord_a(app, client)
    doc_id, _ = add_document(app.state.database, case_id=case_id, unique_id="1.2.250.1.999.6.4")
    answer = client.get(f"/coordination/dossiers/{case_id}/documents/{doc_id}/document.pdf")
    assert answer.status_code == 200 and answer.content == DOC_PDF
    assert answer.headers["content-disposition"].startswith('attachment; filename="frcp-v1-')
    with app.state.database.uow() as uow:
        actors = uow.session.scalars(select(m.AuditEvent.actor).where(
            m.AuditEvent.action == "document.pdf_read", m.AuditEvent.entity_id == doc_id)).all()
        other_case = uow.session.scalars(select(m.Case.id).where(m.Case.id != case_id).order_by(m.Case.id)).first()
    assert actors == ["coord-a"]
    # another region's coordinator, or the document under another case: 404, nothing served
    assert as_user("coord-b").get(f"/coordination/dossiers/{case_id}/documents/{doc_id}/document.pdf"
                                  ).status_code == 404
    wrong = client.get(f"/coordination/dossiers/{other_case}/documents/{doc_id}/document.pdf")
    assert wrong.status_code == 404
