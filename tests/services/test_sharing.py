"""An attachment shared with the national record as a CDA N1 document: through the outbox to the simulator
(ITI-41 and MHD), exactly once, with the N1 format codes; refusals in French with nothing written."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pikepdf
import pytest
from lxml import etree
from PIL import Image
from sqlalchemy import func, select

from dcc.adapters.db import models as m
from dcc.bootstrap import MhdNationalRecord
from dcc.errors import Conflict, ValidationFailed
from dcc.services import attachments as att
from dcc.services.delivery import RetryPolicy, dispatch_pending
from dcc.services.sharing import share_attachment
from dcc.services.uow import Database
from dcc.simulator.app import create_app
from dcc.simulator.server import RunningServer, start_in_thread
from tests.services.delivery_worker import seed_cases, transport

FAST = RetryPolicy(max_attempts=3, base_s=0.01, max_s=0.05, lease_s=30)
NS = {"h": "urn:hl7-org:v3"}


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[RunningServer]:
    # the simulator trusts the demo CA(s) the test's sender identities create there (read at each request)
    with start_in_thread(create_app(trust_store=tmp_path / "id"), log_level="critical") as server:
        yield server


def _pdf() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def world(database: Database) -> dict[str, str]:
    case_id = seed_cases(database, patients=1)[0]
    with database.uow() as uow:
        case = uow.session.get(m.Case, case_id)
        assert case is not None
        patient = uow.session.get(m.Patient, case.patient_id)
        assert patient is not None
        patient.ins_qualified, patient.dmp_opposition = True, False
        assert patient.ins_matricule
        doctor = uow.session.scalars(select(m.Professional).where(m.Professional.is_physician)
                                     .order_by(m.Professional.rpps)).first()
        nurse = m.Professional(rpps="10000000006", family="Infirmière", given="Iris", specialty_code="SM26",
                               establishment_id=doctor.establishment_id, is_physician=False)
        uow.session.add(nurse)
        board = uow.session.get(m.Board, case.board_id)
        est = uow.session.get(m.Establishment, board.establishment_id)
        region = uow.session.get(m.Region, est.region_id)
        uow.commit()
        ids = {"case": case_id, "patient": patient.id, "doctor": doctor.id, "nurse": nurse.id,
               "destination": f"dmp:{region.code}"}
    with database.uow() as uow:
        ids["pdf"] = att.add_attachment(uow, case_id=case_id, data=_pdf(), filename="acp.pdf", title="CR ACP biopsie",
                                        category="pathology", actor="coord").id
    with database.uow() as uow:
        ids["jpeg"] = att.add_attachment(uow, case_id=case_id, data=_jpeg(), filename="scan.jpg",
                                         title="CR scanner thoraco-abdominal", category="imaging", actor="coord").id
    with database.uow() as uow:
        ids["letter"] = att.add_attachment(uow, case_id=case_id, data=_pdf(), filename="lettre.pdf",
                                           title="Courrier du Dr Martin", category="letter", actor="coord").id
    with database.uow() as uow:
        ids["other"] = att.add_attachment(uow, case_id=case_id, data=_pdf(), filename="divers.pdf",
                                          title="Divers", category="other", actor="coord").id
    return ids


def _counts(db: Database) -> tuple[int, int]:
    with db.uow() as uow:
        return (uow.session.scalar(select(func.count()).select_from(m.Document)) or 0,
                uow.session.scalar(select(func.count()).select_from(m.OutboxMessage)) or 0)


def _share(db: Database, w: dict[str, str], key: str, **kw: object) -> str:
    with db.uow() as uow:
        kw.setdefault("professional_id", w["doctor"])
        kw.setdefault("confirm", True)
        return share_attachment(uow, attachment_id=w[key], actor="dr", **kw).unique_id  # type: ignore[arg-type]


def test_shared_over_iti41_exactly_once(database: Database, world: dict[str, str], sim: RunningServer,
                                        tmp_path: Path) -> None:
    before = _counts(database)
    unique_id = _share(database, world, "pdf")
    assert _counts(database) == (before[0] + 1, before[1] + 1)
    with pytest.raises(Conflict, match="déjà été partagée"):
        _share(database, world, "pdf")
    assert _counts(database) == (before[0] + 1, before[1] + 1)
    stats = dispatch_pending(database, transports={world["destination"]: transport(
        f"{sim.url}/xds/iti41", tmp_path / "id")}, policy=FAST, max_seconds=30)
    assert stats.delivered == 1
    stored = {d["unique_id"]: d for d in httpx.get(f"{sim.url}/_state", timeout=10).json()}
    assert stored[unique_id]["type_code"] == "60568-3"
    assert stored[unique_id]["submissions"] == 1
    cda = httpx.get(f"{sim.url}/_documents/{unique_id}", timeout=10).content
    root = etree.fromstring(cda)
    assert root.xpath("string(h:component/h:nonXMLBody/h:text/@mediaType)", namespaces=NS) == "application/pdf"
    with database.uow() as uow:
        doc = uow.session.scalars(select(m.Document).where(m.Document.unique_id == unique_id)).one()
        assert (doc.kind, doc.status, doc.signer_id) == ("N1", "delivered", world["doctor"])
        audit = uow.session.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "attachment.share")).all()
        assert [a.entity_id for a in audit] == [world["pdf"]]


def test_jpeg_shared_over_mhd_with_its_format_code(database: Database, world: dict[str, str],
                                                   sim: RunningServer) -> None:
    unique_id = _share(database, world, "jpeg")
    stats = dispatch_pending(database, transports={world["destination"]: MhdNationalRecord(sim.url)},
                             policy=FAST, max_seconds=30)
    assert stats.delivered == 1
    stored = {d["unique_id"]: d for d in httpx.get(f"{sim.url}/_state", timeout=10).json()}
    assert stored[unique_id]["type_code"] == "18748-4"


def test_letter_needs_its_type_and_other_is_refused(database: Database, world: dict[str, str]) -> None:
    before = _counts(database)
    with pytest.raises(ValidationFailed, match="Précisez le type"):
        _share(database, world, "letter")
    with pytest.raises(ValidationFailed, match="« autre »"):
        _share(database, world, "other")
    with pytest.raises(ValidationFailed, match="Confirmez"):
        _share(database, world, "pdf", confirm=False)
    with pytest.raises(ValidationFailed, match="Seul un médecin"):
        _share(database, world, "pdf", professional_id=world["nurse"])
    assert _counts(database) == before
    _share(database, world, "letter", type_code="96349-6")
    assert _counts(database) == (before[0] + 1, before[1] + 1)


@pytest.mark.parametrize(("field", "value", "message"), [("dmp_opposition", True, "opposé"),
                                                         ("ins_qualified", False, "non qualifiée")])
def test_patient_choices_and_identity_refuse_with_nothing_written(database: Database, world: dict[str, str],
                                                                  field: str, value: bool, message: str) -> None:
    with database.uow() as uow:
        patient = uow.session.get(m.Patient, world["patient"])
        setattr(patient, field, value)
        uow.commit()
    before = _counts(database)
    with pytest.raises(Conflict, match=message):
        _share(database, world, "pdf")
    assert _counts(database) == before
    with database.uow() as uow:
        assert uow.session.get(m.Attachment, world["pdf"]).shared_document_id is None


def test_a_shared_attachment_is_not_corrected_as_a_board_document(database: Database, world: dict[str, str]) -> None:
    from dcc.bootstrap import cda_builder
    from dcc.services.corrections import CorrectionInput, correct_document

    unique_id = _share(database, world, "pdf")
    with database.uow() as uow:
        doc_id = uow.session.scalars(select(m.Document.id).where(m.Document.unique_id == unique_id)).one()
    before = _counts(database)
    with database.uow() as uow, pytest.raises(ValidationFailed, match="ne se corrige pas"):
        correct_document(uow, document_id=doc_id, actor="dr", changes=CorrectionInput(reason="erreur de fichier"),
                         cda=cda_builder(), pdf=None)  # type: ignore[arg-type]
    assert _counts(database) == before
