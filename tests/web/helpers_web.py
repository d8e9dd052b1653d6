"""Helpers of the web tests (imported by the tests and by conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.config import Settings
from dcc.domain.identifiers import nir_key
from dcc.services import boards as board_services
from dcc.services.uow import Database

# A Monday; the planning horizon crosses the switch to summer time (29 March 2026).
TODAY = date(2026, 3, 2)

TEST_LOGIN = "coord-test"  # the `client` fixture's user: coordinator of region A (every board of the region)


def web_settings(**overrides: Any) -> Settings:
    """Settings of the web tests: dev authentication with a fixed key."""
    fields: dict[str, Any] = {"env": "test", "auth_mode": "dev", "session_secret": "cle-de-test-" + "x" * 32}
    fields.update(overrides)
    return Settings(**fields)


@dataclass
class Seeded:
    database: Database
    board_ids: list[str]

    def board(self, index: int = 0) -> m.Board:
        with self.database.uow() as uow:
            board = uow.session.get(m.Board, self.board_ids[index])
            assert board is not None
            uow.session.expunge_all()  # keep the loaded attributes after the unit of work rolls back
            return board

    def members(self, board_id: str) -> list[m.Professional]:
        with self.database.uow() as uow:
            members = repo.board_members(uow.session, board_id)
            uow.session.expunge_all()
            return members

    def establishment(self) -> m.Establishment:
        with self.database.uow() as uow:
            est = uow.session.scalars(select(m.Establishment).order_by(m.Establishment.finess)).first()
            assert est is not None
            uow.session.expunge_all()
            return est

    def plan(self, weeks: int = 8) -> int:
        with self.database.uow() as uow:
            return board_services.plan_sessions(uow, today=TODAY, horizon_weeks=weeks)

    def assign(self) -> board_services.AssignmentSummary:
        with self.database.uow() as uow:
            return board_services.assign_cases(uow, today=TODAY)


def nir(first13: str = "2750344109123") -> str:
    return first13 + nir_key(first13)


def traits_of(first13: str) -> dict[str, str]:
    """Traits coherent with a test NIR (identity vigilance checks the NIR against them) and a birth family
    name of its own (patients are matched on their traits): the default NIR keeps MARTIN, 1975-03, 44109."""
    if first13 == "2750344109123":
        return {}
    month = int(first13[3:5])
    return {"sex": "M" if first13[0] in "17" else "F",
            "birth_date": f"19{first13[1:3]}-{month if 1 <= month <= 12 else 3:02d}-12",
            "birthplace_insee": first13[5:10],
            "birth_family": "MARTIN-" + "".join(chr(ord("A") + int(c)) for c in first13[-4:])}


def case_payload(board_id: str, requester_rpps: str, *, first13: str = "2750344109123",
                 **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "board_id": board_id,
        "patient": {
            "ins_matricule": nir(first13), "ins_oid": "1.2.250.1.213.1.4.10", "ins_qualified": True,
            "birth_family": "MARTIN", "birth_given_first": "CLAIRE", "birth_given_all": "CLAIRE ANNE",
            "birth_date": "1975-03-12", "sex": "F", "birthplace_insee": "44109", "birthplace_city": "NANTES",
            "used_family": "DUPONT", "used_given": "Claire",
        } | traits_of(first13),
        "requester_rpps": requester_rpps,
        "topography_code": "C50.9",
        "laterality": "gauche",  # breast: a paired organ
        "question": "Quelle stratégie thérapeutique proposer en première intention ?",
        "earliest_date": TODAY.isoformat(),
    }
    payload.update(overrides)
    return payload


DOC_CDA = b"<?xml version='1.0' encoding='UTF-8'?><ClinicalDocument xmlns='urn:hl7-org:v3'/>"
DOC_PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n%%EOF\n"


def add_document(db: Database, *, case_id: str, unique_id: str, status: str = "signed", kind: str = "FRCP",
                 signer_id: str | None = None,
                 destinations: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """A document row of the case (placeholder CDA/PDF bytes), and one outbox message per destination with
    the given state; returns (document id, {destination: message id})."""
    import hashlib
    from datetime import UTC, datetime

    with db.uow() as uow:
        case = uow.session.get(m.Case, case_id)
        assert case is not None
        board = uow.session.get(m.Board, case.board_id)
        assert board is not None
        doc = m.Document(case_id=case_id, patient_id=case.patient_id, kind=kind, set_id=unique_id + ".0",
                         version=1, unique_id=unique_id, cda=DOC_CDA, pdf=DOC_PDF,
                         sha256=hashlib.sha256(DOC_CDA).hexdigest(), pdf_sha256=hashlib.sha256(DOC_PDF).hexdigest(),
                         status=status, template_version="test-1", signer_id=signer_id or board.responsible_id,
                         signed_at=None if status == "draft" else datetime(2026, 3, 3, 14, 0, tzinfo=UTC))
        uow.session.add(doc)
        uow.session.flush()
        messages: dict[str, str] = {}
        for destination, state in (destinations or {}).items():
            msg = m.OutboxMessage(document_id=doc.id, destination=destination, state=state)
            uow.session.add(msg)
            uow.session.flush()
            messages[destination] = msg.id
        uow.commit()
        return doc.id, messages
