"""The document chain on the `database` fixture: directory, cases, meeting, documents (drafts), signature."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.adapters.signing.pki import DemoPki, init_demo_pki
from dcc.bootstrap import DemoSignerDirectory, cda_builder, pdf_renderer
from dcc.services import boards as board_services
from dcc.services import demo as demo_services
from dcc.services.documents import generate_documents, sign_documents
from dcc.services.seed import seed_directory, seed_patients
from dcc.services.uow import Database

TODAY = date(2025, 3, 3)


@dataclass
class Chain:
    db: Database
    pki_dir: Path
    signers: DemoSignerDirectory
    drafts: dict[str, list[str]] = field(default_factory=dict)  # signer professional id -> document ids
    signed: list[str] = field(default_factory=list)

    @property
    def ca(self) -> Path:
        return self.pki_dir / "ca.pem"

    def pki(self) -> DemoPki:
        return init_demo_pki(self.pki_dir, [])

    def documents(self, **where: str) -> list[m.Document]:
        with self.db.uow() as uow:
            q = select(m.Document).order_by(m.Document.created_at, m.Document.id)
            for name, value in where.items():
                q = q.where(getattr(m.Document, name) == value)
            docs = list(uow.session.scalars(q).all())
            uow.session.expunge_all()  # detached but loaded: the closing rollback does not expire them
            return docs

    def sign_all(self) -> list[str]:
        for signer_id, ids in self.drafts.items():
            with self.db.uow() as uow:
                self.signed += sign_documents(uow, document_ids=ids, signer_professional_id=signer_id,
                                              cda=cda_builder(), signers=self.signers)
        self.drafts = {}
        return self.signed


def build_chain(db: Database, pki_dir: Path, *, patients: int = 4, seed: int = 1) -> Chain:
    """Seed, plan, register, assign, hold the meetings and generate the documents (left as drafts)."""
    with db.uow() as uow:
        seeded = seed_directory(uow, seed=seed, regions=1)
        patient_ids = seed_patients(uow, seed=seed, count=patients, region_codes=seeded.regions)
        uow.commit()
    with db.uow() as uow:
        board_services.plan_sessions(uow, today=TODAY)
    demo_services.register_demo_cases(db, patient_ids=patient_ids, seed=seed, today=TODAY)
    with db.uow() as uow:
        board_services.assign_cases(uow, today=TODAY)
    meeting = demo_services.hold_meetings(db, seed=seed, today=TODAY, quorum_failure_rate=0.0)
    with db.uow() as uow:
        result = generate_documents(uow, case_ids=meeting.decided_cases, cda=cda_builder(), pdf=pdf_renderer())
    assert result.created and not result.refused, result
    chain = Chain(db=db, pki_dir=pki_dir, signers=DemoSignerDirectory(pki_dir))
    with db.uow() as uow:
        for doc in uow.session.scalars(select(m.Document).where(m.Document.id.in_(result.created))):
            chain.drafts.setdefault(doc.signer_id, []).append(doc.id)
    return chain


@pytest.fixture
def chain(database: Database, tmp_path: Path) -> Chain:
    """Generated drafts (FRCP and PPS), not signed yet."""
    return build_chain(database, tmp_path / "pki")


@pytest.fixture
def signed_chain(chain: Chain) -> Chain:
    chain.sign_all()
    return chain
