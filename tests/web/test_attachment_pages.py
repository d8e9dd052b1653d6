"""Attachments on the coordinator's case page (upload, list, download, removal) and in meeting mode."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import func, select

from dcc.adapters.db import models as m
from tests.services.test_attachments import jpeg_with_gps, pdf_bytes
from tests.web import test_pages as pages
from tests.web.test_pages import _planned_session_with_cases, csrf

app = pages.app  # the page tests' fixture
as_user = pages.as_user  # the page tests' fixture
template_dir = pages.template_dir  # the page tests' fixture


def _count(app: Any) -> int:
    with app.state.database.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(m.Attachment)) or 0)


def _post(client: Any, case_id: str, token: str, data: bytes, name: str, **fields: str) -> Any:
    form = {"csrf_token": token, "categorie": "pathology", "titre": "Compte rendu anatomopathologique",
            "visionneuse": ""} | fields
    return client.post(f"/coordination/dossiers/{case_id}/pieces-jointes", data=form,
                       files={"fichier": (name, data, "application/octet-stream")})


def test_upload_list_download_remove_and_meeting_display(as_user: Any, app: Any) -> None:
    session_id, case_ids = _planned_session_with_cases(app)
    case_id = case_ids[0]
    client = as_user("coord-a")
    page = client.get(f"/coordination/dossiers/{case_id}")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    assert "Aucune pièce jointe." in page.text
    token = csrf(page.text)
    pdf = pdf_bytes()
    r = _post(client, case_id, token, pdf, "anapath.pdf")
    assert r.status_code == 303 and "ajout%C3%A9e" in r.headers["location"]
    r = _post(client, case_id, token, jpeg_with_gps(), "scanner.jpg", categorie="imaging", titre="Scanner TAP",
              visionneuse="https://pacs.example.fr/etude/42")
    assert r.status_code == 303
    page = client.get(f"/coordination/dossiers/{case_id}")
    assert "Compte rendu anatomopathologique" in page.text and "Scanner TAP" in page.text
    assert 'href="https://pacs.example.fr/etude/42"' in page.text
    with app.state.database.uow() as uow:
        rows = {a.title: a.id for a in uow.session.scalars(select(m.Attachment).where(m.Attachment.case_id == case_id))}
    link = f"/coordination/dossiers/{case_id}/pieces-jointes/{rows['Compte rendu anatomopathologique']}/fichier"
    assert f'href="{link}"' in page.text
    got = client.get(link)
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == hashlib.sha256(pdf).hexdigest()
    # meeting mode lists them in the case's block
    meeting = client.get(f"/coordination/seances/{session_id}/reunion")
    block = meeting.text.split(f'id="dossier-{case_id}"')[1].split('<li id="dossier-')[0]
    assert "Scanner TAP" in block and f'href="{link}"' in block and "aucune pièce jointe" not in block
    assert "Retirer" not in block
    # removal before the discussion
    r = client.post(f"/coordination/dossiers/{case_id}/pieces-jointes/{rows['Scanner TAP']}/retirer",
                    data={"csrf_token": token})
    assert r.status_code == 303 and "retir%C3%A9e" in r.headers["location"]
    assert _count(app) == 1


def test_hostile_files_are_refused_with_a_french_message_and_nothing_stored(as_user: Any, app: Any) -> None:
    _, case_ids = _planned_session_with_cases(app)
    client = as_user("coord-a")
    token = csrf(client.get(f"/coordination/dossiers/{case_ids[0]}").text)
    for data, name, words in ((pdf_bytes("js"), "cr.pdf", "JavaScript"),
                              (b"MZ\x90\x00" + b"\x00" * 64, "cr.pdf", "PDF"), (pdf_bytes(), "cr.pdf", "")):
        fields = {"visionneuse": "javascript:alert(1)"} if not words else {}
        r = _post(client, case_ids[0], token, data, name, **fields)
        assert r.status_code == 303
        page = client.get(r.headers["location"])
        assert "Pièce jointe refusée" in page.text and (words or "https") in page.text
    assert _count(app) == 0


def test_other_region_and_foreign_attachment_are_not_found(as_user: Any, app: Any) -> None:
    _, case_ids = _planned_session_with_cases(app)
    coord = as_user("coord-a")
    token = csrf(coord.get(f"/coordination/dossiers/{case_ids[0]}").text)
    assert _post(coord, case_ids[0], token, pdf_bytes(), "cr.pdf").status_code == 303
    with app.state.database.uow() as uow:
        attachment_id = uow.session.scalars(select(m.Attachment.id)).one()
    if len(case_ids) > 1:  # the attachment through another case's address
        assert coord.get(f"/coordination/dossiers/{case_ids[1]}/pieces-jointes/{attachment_id}/fichier"
                         ).status_code == 404
    other = as_user("coord-b")
    assert other.get(f"/coordination/dossiers/{case_ids[0]}/pieces-jointes/{attachment_id}/fichier"
                     ).status_code == 404


def test_a_page_upload_over_20_mo_is_refused_before_reading_with_a_french_page(as_user: Any, app: Any) -> None:
    _, case_ids = _planned_session_with_cases(app)
    client = as_user("coord-a")
    r = client.post(f"/coordination/dossiers/{case_ids[0]}/pieces-jointes", content=b"x",
                    headers={"Content-Length": str(200 * 1024 * 1024), "Content-Type": "multipart/form-data; b=x"})
    assert r.status_code == 413 and r.headers["content-type"].startswith("text/html")
    assert "Le fichier dépasse la taille maximale autorisée (20 Mo)." in r.text and 'lang="fr"' in r.text
    assert _count(app) == 0
