"""Case attachments: hostile files refused (or cleaned) with French messages, nothing stored half-way,
SHA-256, immutable once the case is discussed, audited."""

from __future__ import annotations

import hashlib
import io
from datetime import date

import pikepdf
import pytest
from PIL import ExifTags, Image
from sqlalchemy import func, select

from dcc.adapters.db import models as m
from dcc.errors import Conflict, ValidationFailed
from dcc.services import attachments as svc
from dcc.services.seed import seed_directory, seed_patients
from dcc.services.uow import Database

TODAY = date(2025, 3, 3)


@pytest.fixture
def case_id(database: Database) -> str:
    with database.uow() as uow:
        seeded = seed_directory(uow, seed=1, regions=1)
        (patient,) = seed_patients(uow, seed=1, count=1, region_codes=seeded.regions)
        prof = uow.session.scalars(select(m.Professional).order_by(m.Professional.rpps)).first()
        assert prof is not None
        case = m.Case(patient_id=patient, board_id=seeded.boards[0], requester_id=prof.id, presenter_id=prof.id,
                      topography_code="C50.9", earliest_date=TODAY)
        uow.session.add(case)
        uow.commit()
        return case.id


def pdf_bytes(hostile: str = "") -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    if hostile == "js":
        pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)"))
    if hostile == "embedded":
        pdf.attachments["virus.exe"] = pikepdf.AttachedFileSpec(pdf, b"MZ\x90\x00payload", mime_type="x/x")
    out = io.BytesIO()
    pdf.save(out, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    img = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Appareil du service"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 24.0)
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def add(db: Database, case_id: str, data: bytes, filename: str = "cr.pdf") -> svc.AttachmentView:
    with db.uow() as uow:
        return svc.add_attachment(uow, case_id=case_id, data=data, filename=filename, title="CR anapath",
                                  category="pathology", actor="coord-a")


def stored(db: Database) -> tuple[int, int]:
    with db.uow() as uow:
        files = uow.session.scalar(select(func.count()).select_from(m.Attachment))
        audits = uow.session.scalar(select(func.count()).select_from(m.AuditEvent)
                                    .where(m.AuditEvent.action == "attachment.add"))
        return int(files or 0), int(audits or 0)


@pytest.mark.parametrize(("data", "filename", "message"), [
    (pdf_bytes("js"), "cr.pdf", "Le PDF contient du JavaScript"),
    (pdf_bytes("embedded"), "cr.pdf", "Le PDF contient des fichiers incorporés"),
    (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(500), "compte-rendu.pdf", "Seuls les fichiers PDF et JPEG"),
    (b"%PDF-1.7\n garbage that is no pdf", "cr.pdf", "PDF endommagé"),
    (b"\xff\xd8\xff\xe0 not a jpeg", "photo.jpg", "ne peut pas être décodé"),
    (b"", "vide.pdf", "Le fichier est vide"),
])
def test_hostile_files_refused_nothing_stored(database: Database, case_id: str, data: bytes, filename: str,
                                              message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        add(database, case_id, data, filename)
    assert stored(database) == (0, 0)


def test_too_large_refused_before_reading(database: Database, case_id: str) -> None:
    big = b"%PDF-1.7\n" + bytes(200 * 1024 * 1024)
    with pytest.raises(ValidationFailed, match=r"dépasse la taille maximale \(20 Mo\)"):
        add(database, case_id, big)
    del big
    assert stored(database) == (0, 0)


def test_jpeg_gps_metadata_removed(database: Database, case_id: str) -> None:
    raw = jpeg_with_gps()
    with Image.open(io.BytesIO(raw)) as before:
        assert before.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the fixture does carry a position
    view = add(database, case_id, raw, "photo.jpeg")
    with database.uow() as uow:
        row = uow.session.get(m.Attachment, view.id)
        assert row is not None
        content = row.content
    assert view.media_type == "image/jpeg" and b"Exif" not in content
    with Image.open(io.BytesIO(content)) as after:
        assert after.size == (64, 48) and len(after.getexif()) == 0
    assert view.sha256 == hashlib.sha256(content).hexdigest()


def test_plain_pdf_stored_audited_then_immutable(database: Database, case_id: str) -> None:
    data = pdf_bytes()
    view = add(database, case_id, data, "../../etc/cr.pdf")
    assert (view.media_type, view.size, view.sha256) == ("application/pdf", len(data),
                                                           hashlib.sha256(data).hexdigest())
    assert "/" not in view.filename
    assert stored(database) == (1, 1)
    with database.uow() as uow:
        got, content = svc.read_attachment(uow, view.id, actor="dr-b")
    assert content == data and not got.locked
    with database.uow() as uow:
        case = uow.session.get(m.Case, case_id)
        assert case is not None
        case.status = "decided"
        uow.commit()
    with pytest.raises(Conflict, match="déjà été discuté"):
        add(database, case_id, data)
    with database.uow() as uow:
        with pytest.raises(Conflict, match="déjà été discuté"):
            svc.remove_attachment(uow, view.id, actor="coord-a")
        (listed,) = svc.list_attachments(uow, case_id)
        assert listed.locked
        actions = list(uow.session.scalars(select(m.AuditEvent.action).where(
            m.AuditEvent.entity == "attachment").order_by(m.AuditEvent.id)))
    assert actions == ["attachment.add", "attachment.read"]


def test_bad_fields_in_french(database: Database, case_id: str) -> None:
    with database.uow() as uow:
        with pytest.raises(ValidationFailed, match="Catégorie « scanner » inconnue"):
            svc.add_attachment(uow, case_id=case_id, data=pdf_bytes(), filename="a.pdf", title="x",
                               category="scanner", actor="coord-a")
        with pytest.raises(ValidationFailed, match="adresse https"):
            svc.add_attachment(uow, case_id=case_id, data=pdf_bytes(), filename="a.pdf", title="x",
                               category="imaging", actor="coord-a", viewer_url="javascript:alert(1)")
    assert stored(database) == (0, 0)
