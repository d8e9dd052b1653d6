"""Attachments through HTTP: upload (multipart), list, download (audited), removal before the discussion;
hostile files answer a French 4xx and store nothing; the 20 Mo upload limit of the body-size middleware."""

from __future__ import annotations

import hashlib
import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from dcc.adapters.db import models as m
from dcc.services.uow import Database
from tests.services.test_attachments import jpeg_with_gps, pdf_bytes
from tests.web.helpers_web import Seeded, case_payload


def _case(client: TestClient, seeded: Seeded) -> str:
    board = seeded.board(0)
    r = client.post("/api/v1/cases", json=case_payload(board.id, seeded.members(board.id)[0].rpps))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _upload(client: TestClient, case_id: str, data: bytes, *, name: str = "cr.pdf", category: str = "pathology",
            title: str = "Compte rendu d'anatomopathologie", viewer_url: str = "") -> object:
    return client.post(f"/api/v1/cases/{case_id}/attachments", files={"file": (name, data, "application/pdf")},
                       data={"category": category, "title": title, "viewer_url": viewer_url})


def _stored(database: Database) -> int:
    with database.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(m.Attachment)) or 0)


def _audit(database: Database, action: str) -> list[str]:
    with database.uow() as uow:
        return list(uow.session.scalars(select(m.AuditEvent.entity_id).where(m.AuditEvent.action == action)))


def test_upload_list_download_remove(client: TestClient, seeded: Seeded, database: Database) -> None:
    case_id = _case(client, seeded)
    pdf = pdf_bytes()
    r = _upload(client, case_id, pdf, name="anapath été.pdf")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["media_type"] == "application/pdf" and body["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert body["category_label"] == "compte rendu d'anatomopathologie" and body["locked"] is False
    r = _upload(client, case_id, jpeg_with_gps(), name="scanner.jpg", category="imaging", title="Scanner TAP",
                viewer_url="https://pacs.example.fr/etude/42")
    assert r.status_code == 201, r.text
    jpeg_id = r.json()["id"]
    listed = client.get(f"/api/v1/cases/{case_id}/attachments").json()
    assert [(a["title"], a["viewer_url"]) for a in listed] == [
        ("Compte rendu d'anatomopathologie", ""), ("Scanner TAP", "https://pacs.example.fr/etude/42")]
    r = client.get(f"/api/v1/attachments/{body['id']}")
    assert r.status_code == 200 and r.content == pdf
    assert r.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''anapath%20%C3%A9t%C3%A9.pdf" in r.headers["content-disposition"]
    assert body["id"] in _audit(database, "attachment.read")
    image = client.get(f"/api/v1/attachments/{jpeg_id}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert not Image.open(io.BytesIO(image.content)).getexif().get_ifd(0x8825)  # no GPS left
    assert client.delete(f"/api/v1/attachments/{jpeg_id}").status_code == 204
    assert client.get(f"/api/v1/attachments/{jpeg_id}").status_code == 404
    assert jpeg_id in _audit(database, "attachment.remove")
    assert _stored(database) == 1


@pytest.mark.parametrize(("data", "fields", "field", "fragment"), [
    (pdf_bytes("js"), {}, "file", "JavaScript"),
    (pdf_bytes("embedded"), {}, "file", "incorpor"),
    (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200, {}, "file", ""),
    (b"", {}, "file", "vide"),
    (b"%PDF-1.7 broken", {}, "file", "endommagé"),
    (pdf_bytes(), {"category": "radio"}, "category", "Catégorie"),
    (pdf_bytes(), {"title": "  "}, "title", "titre"),
    (pdf_bytes(), {"viewer_url": "http://pacs.example.fr/1"}, "viewer_url", "https"),
])
def test_hostile_or_invalid_files_are_refused_in_french(client: TestClient, seeded: Seeded, database: Database,
                                                        data: bytes, fields: dict[str, str], field: str,
                                                        fragment: str) -> None:
    case_id = _case(client, seeded)
    form = {"category": "pathology", "title": "Compte rendu", "viewer_url": ""} | fields
    r = client.post(f"/api/v1/cases/{case_id}/attachments", files={"file": ("rapport.pdf", data, "application/pdf")},
                    data=form)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and fragment in r.json()["message"]
    assert _stored(database) == 0
    assert _audit(database, "attachment.add") == []


def test_renamed_executable_message(client: TestClient, seeded: Seeded) -> None:
    case_id = _case(client, seeded)
    r = _upload(client, case_id, b"MZ\x90\x00" + b"\x00" * 100, name="compte-rendu.pdf")
    assert r.status_code == 422
    assert "PDF" in r.json()["message"] and "JPEG" in r.json()["message"]


def test_upload_size_limits(client: TestClient, seeded: Seeded, database: Database) -> None:
    case_id = _case(client, seeded)
    # more than the 1 MiB of ordinary requests is accepted on the upload route
    big = pdf_bytes()[:-6] + b"%" + b" " * (2 * 1024 * 1024) + b"\n%%EOF\n"
    r = _upload(client, case_id, big)
    assert r.status_code == 201, r.text
    # a body announcing more than 20 Mo is refused before it is read, in French
    r = client.post(f"/api/v1/cases/{case_id}/attachments", content=b"x",
                    headers={"Content-Length": str(200 * 1024 * 1024), "Content-Type": "multipart/form-data; b=x"})
    assert r.status_code == 413
    assert r.json() == {"code": "fichier_trop_volumineux",
                        "message": "Le fichier dépasse la taille maximale autorisée (20 Mo)."}
    # a streamed body over the limit (no declared length) is cut off too
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(22):
            yield b"\x00" * (1024 * 1024)
    r = client.post(f"/api/v1/cases/{case_id}/attachments", content=chunks(),
                    headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413
    # the other routes keep the 1 MiB limit
    r = client.post("/api/v1/cases", content=b"{" + b" " * (1024 * 1024 + 10) + b"}",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "requete_trop_volumineuse"
    assert _stored(database) == 1


def test_immutable_once_discussed(client: TestClient, seeded: Seeded, database: Database) -> None:
    case_id = _case(client, seeded)
    r = _upload(client, case_id, pdf_bytes())
    attachment_id = r.json()["id"]
    with database.uow() as uow:
        case = uow.session.get(m.Case, case_id)
        assert case is not None
        case.status = "decided"
        uow.commit()
    r = client.delete(f"/api/v1/attachments/{attachment_id}")
    assert r.status_code == 409 and "déjà été discuté" in r.json()["message"]
    r = _upload(client, case_id, pdf_bytes())
    assert r.status_code == 409
    assert client.get(f"/api/v1/cases/{case_id}/attachments").json()[0]["locked"] is True
    assert _stored(database) == 1


def test_unknown_objects_are_404(client: TestClient, seeded: Seeded) -> None:
    assert _upload(client, "inconnu", pdf_bytes()).status_code == 404
    assert client.get("/api/v1/cases/inconnu/attachments").status_code == 404
    r = client.get("/api/v1/attachments/inconnu")
    assert r.status_code == 404 and r.json()["message"] == "Pièce jointe « inconnu » introuvable."


def test_a_physician_shares_an_attachment_once(client: TestClient, seeded: Seeded, database: Database) -> None:
    from dcc.web.auth import issue_dev_token
    from tests.web.helpers_web import web_settings

    case_id = _case(client, seeded)
    attachment_id = _upload(client, case_id, pdf_bytes()).json()["id"]  # type: ignore[attr-defined]
    with database.uow() as uow:
        case = uow.session.get(m.Case, case_id)
        board = uow.session.get(m.Board, case.board_id)
        patient = uow.session.get(m.Patient, case.patient_id)
        patient.ins_qualified = bool(patient.ins_matricule)
        uow.session.add(m.AppUser(login="phys-share", role="physician", professional_id=board.responsible_id,
                                  display_name="Dr Partage", active=True))
        uow.commit()
    url = f"/api/v1/attachments/{attachment_id}/share"
    r = client.post(url, json={"confirm": True})  # the coordinator is not a physician of the directory
    assert r.status_code == 422 and "Seul un médecin" in r.text, r.text
    doctor = {"Authorization": f"Bearer {issue_dev_token('phys-share', settings=web_settings())}"}
    r = client.post(url, json={}, headers=doctor)
    assert r.status_code == 422 and "Confirmez" in r.text, r.text
    r = client.post(url, json={"confirm": True}, headers=doctor)
    assert r.status_code == 201, r.text
    assert r.json()["type_code"] == "60568-3" and r.json()["shared_by"] == "phys-share"
    assert client.post(url, json={"confirm": True}, headers=doctor).status_code == 409
    listed = client.get(f"/api/v1/cases/{case_id}/attachments").json()
    assert listed[0]["shared_document_id"] == r.json()["document_id"]
    assert _audit(database, "attachment.share") == [attachment_id]
