"""The physician's attachments page of a case: download, and sharing with the DMP after an explicit
confirmation (once; « autre » not shareable; refusals in French, nothing written)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sqlalchemy import func, select

from dcc.adapters.db import models as m
from tests.services.test_attachments import pdf_bytes
from tests.web import test_pages as pages
from tests.web.test_pages import csrf
from tests.web.test_physician_pages import _my_case

app = pages.app  # the page tests' fixture
as_user = pages.as_user  # the page tests' fixture
template_dir = pages.template_dir  # the page tests' fixture


def _outbox(app: Any) -> int:
    with app.state.database.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(m.OutboxMessage)) or 0)


def test_physician_shares_an_attachment_after_confirming(as_user: Any, app: Any) -> None:
    _, case_id = _my_case(app)
    db = app.state.database
    with db.uow() as uow:
        case = uow.session.get(m.Case, case_id)
        patient = uow.session.get(m.Patient, case.patient_id)
        patient.ins_qualified, patient.dmp_opposition = bool(patient.ins_matricule), False
        uow.commit()
    report, other = _attach(db, case_id, "CR ACP de la biopsie", "pathology"), _attach(db, case_id, "Divers", "other")
    client = as_user("phys-a1")
    home = client.get("/medecin/")  # each upcoming case of the home links to its attachments
    for listed in set(re.findall(r'href="/medecin/dossiers/([0-9a-f-]{36})/decision"', home.text)):
        assert f'href="/medecin/dossiers/{listed}/pieces-jointes"' in home.text
    url = f"/medecin/dossiers/{case_id}/pieces-jointes"
    page = client.get(url)
    assert page.status_code == 200 and "CR ACP de la biopsie" in page.text
    assert f'action="{url}/{report}/partager"' in page.text and f'action="{url}/{other}/partager"' not in page.text
    assert "Non partageable avec le DMP" in page.text
    token = csrf(page.text)
    before = _outbox(app)
    r = client.post(f"{url}/{report}/partager", data={"csrf_token": token, "type_code": "60568-3"})
    assert r.status_code == 303 and "Confirmez" in _unquote(r.headers["location"])
    assert _outbox(app) == before
    r = client.post(f"{url}/{report}/partager", data={"csrf_token": token, "type_code": "60568-3",
                                                       "confirmation": "oui"})
    assert r.status_code == 303 and "partagée avec le DMP" in _unquote(r.headers["location"])
    assert _outbox(app) == before + 1
    page = client.get(url)
    assert "Partagée avec le DMP" in page.text and f'action="{url}/{report}/partager"' not in page.text
    r = client.post(f"{url}/{report}/partager", data={"csrf_token": token, "type_code": "60568-3",
                                                       "confirmation": "oui"})
    assert "déjà été partagée" in _unquote(r.headers["location"]) and _outbox(app) == before + 1
    got = client.get(f"{url}/{report}/fichier")
    assert got.status_code == 200 and got.content.startswith(b"%PDF-")


def _attach(db: Any, case_id: str, title: str, category: str) -> str:
    """An attachment as stored by the upload (the case may already be discussed: sharing comes after)."""
    data = pdf_bytes()
    with db.uow() as uow:
        case = uow.session.get(m.Case, case_id)
        a = m.Attachment(case_id=case_id, patient_id=case.patient_id, category=category, title=title,
                         filename="cr.pdf", media_type="application/pdf", size=len(data),
                         sha256=hashlib.sha256(data).hexdigest(), content=data, viewer_url="", created_by="coord-a")
        uow.session.add(a)
        uow.commit()
        return str(a.id)


def _unquote(location: str) -> str:
    from urllib.parse import unquote

    return unquote(location)
