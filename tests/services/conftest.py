"""The document chain on the `database` fixture: directory, cases, meeting, documents (drafts), signature."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.adapters.signing.pki import DemoPki, init_demo_pki
from dcc.bootstrap import DemoSignerDirectory, cda_builder, pdf_renderer
from dcc.domain.identifiers import nir_key
from dcc.services import boards as board_services
from dcc.services import demo as demo_services
from dcc.services.documents import generate_documents, sign_documents
from dcc.services.schemas import CaseRegistration, PatientIdentity
from dcc.services.seed import seed_directory, seed_patients
from dcc.services.uow import Database
from tests.db_state import SavedStates, restore_dir, save_dir

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


def family_name(n: int) -> str:
    """A distinct birth family name per patient number (identity vigilance matches patients on their traits:
    the test patients must differ by more than their INS)."""
    if n == 1:
        return "MARTIN"
    suffix = ""
    while True:
        n, r = divmod(n, 26)
        suffix = chr(ord("A") + r) + suffix
        if n == 0:
            return f"MARTIN-{suffix}"


def build_chain(db: Database, pki_dir: Path, *, patients: int = 4, seed: int = 1, author_pps: bool = True) -> Chain:
    """Seed, plan, register, assign, hold the meetings, generate the Fiche RCP and author the PPS (drafts)."""
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
    pps_ids: list[str] = []
    if author_pps:  # the care team authors the PPS the decisions call for (the demo's synthetic plans)
        pps_ids, pps_refused = demo_services.author_demo_pps(db, case_ids=meeting.decided_cases, seed=seed,
                                                             cda=cda_builder(), pdf=pdf_renderer())
        assert pps_ids and not pps_refused, pps_refused
    chain = Chain(db=db, pki_dir=pki_dir, signers=DemoSignerDirectory(pki_dir))
    with db.uow() as uow:
        for doc in uow.session.scalars(select(m.Document).where(m.Document.id.in_(result.created + pps_ids))):
            chain.drafts.setdefault(doc.signer_id, []).append(doc.id)
    return chain


def saved_chain(states: SavedStates, db: Database, pki_dir: Path, name: str, *, author_pps: bool = True,
                signed: bool = False) -> Chain:
    """`build_chain` (then `sign_all` when `signed`) on `db`, built once per session and backend: the next
    tests get the same rows and PKI files back (tests/db_state.py) instead of a new generation and signing."""
    restored, saved = states.restore(db, name)
    if restored:
        drafts, done = saved
        restore_dir(states.folder(db, name) / "pki", pki_dir)
        return Chain(db=db, pki_dir=pki_dir, signers=DemoSignerDirectory(pki_dir), drafts=drafts, signed=done)
    chain = build_chain(db, pki_dir, author_pps=author_pps)
    if signed:
        chain.sign_all()
    states.save(db, name, (chain.drafts, chain.signed))
    save_dir(pki_dir, states.folder(db, name) / "pki")
    return chain


@pytest.fixture
def chain(database: Database, tmp_path: Path, saved_states: SavedStates) -> Chain:
    """Generated drafts (FRCP and PPS), not signed yet."""
    return saved_chain(saved_states, database, tmp_path / "pki", "chain")


@pytest.fixture
def decided_chain(database: Database, tmp_path: Path, saved_states: SavedStates) -> Chain:
    """Fiche RCP drafts generated, no PPS authored yet."""
    return saved_chain(saved_states, database, tmp_path / "pki", "decided_chain", author_pps=False)


@pytest.fixture
def signed_chain(database: Database, tmp_path: Path, saved_states: SavedStates) -> Chain:
    """The `chain` drafts, all signed."""
    return saved_chain(saved_states, database, tmp_path / "pki", "signed_chain", signed=True)


# ------------------------------------------------------------------ boards: a seeded directory, sessions planned

BOARD_TODAY = date(2025, 3, 3)  # a Monday: the Sein board meets on Tuesdays 12:30 (deadline 2 working days)


@dataclass
class BoardWorld:
    """A seeded directory (1 region: every board kind) with sessions planned from `today`."""

    db: Database
    today: date
    board_ids: list[str]

    def board(self, name: str) -> m.Board:
        with self.db.uow() as uow:
            board = uow.session.scalars(select(m.Board).where(m.Board.name == f"RCP {name}")).one()
            uow.session.expunge_all()  # keep the loaded attributes after the unit of work rolls back
            return board

    def members(self, board_id: str) -> list[m.Professional]:
        with self.db.uow() as uow:
            members = repo.board_members(uow.session, board_id)
            uow.session.expunge_all()
            return members

    def board_in_region(self, name: str, region_code: str) -> m.Board:
        with self.db.uow() as uow:
            q = (select(m.Board).join(m.Establishment, m.Establishment.id == m.Board.establishment_id)
                 .join(m.Region, m.Region.id == m.Establishment.region_id)
                 .where(m.Board.name == f"RCP {name}", m.Region.code == region_code))
            board = uow.session.scalars(q).one()
            uow.session.expunge_all()
            return board

    def professional(self, specialty: str) -> m.Professional:
        with self.db.uow() as uow:
            prof = uow.session.scalars(select(m.Professional).where(m.Professional.specialty_code == specialty)
                                       .order_by(m.Professional.rpps)).first()
            assert prof is not None
            uow.session.expunge_all()
            return prof

    def sessions(self, board_id: str) -> list[m.Session]:
        with self.db.uow() as uow:
            rows = repo.sessions_of_board(uow.session, board_id)
            uow.session.expunge_all()
            return rows

    def open_sessions(self, board_id: str) -> list[m.Session]:
        """Planned sessions whose registration is still open on `today`, in date order."""
        return [s for s in self.sessions(board_id)
                if s.status == "planned" and s.registration_deadline >= self.today]

    def case(self, case_id: str) -> m.Case:
        with self.db.uow() as uow:
            case = uow.session.get(m.Case, case_id)
            assert case is not None
            uow.session.expunge_all()
            return case

    def audit(self, action: str) -> list[m.AuditEvent]:
        with self.db.uow() as uow:
            rows = [e for e in repo.audit_events(uow.session) if e.action == action]
            uow.session.expunge_all()
            return rows

    def set_capacity(self, session_ids: list[str], capacity: int) -> None:
        with self.db.uow() as uow:
            for sid in session_ids:
                s = uow.session.get(m.Session, sid)
                assert s is not None
                s.capacity = capacity
            uow.commit()

    def registration(self, board_name: str, n: int, **overrides: Any) -> CaseRegistration:
        board = self.board(board_name)
        requester = self.members(board.id)[0]
        first13 = f"2750344109{n:03d}"
        fields: dict[str, Any] = {
            "board_id": board.id,
            "patient": PatientIdentity(
                ins_matricule=first13 + nir_key(first13), ins_oid="1.2.250.1.213.1.4.10", ins_qualified=True,
                birth_family=family_name(n), birth_given_first="CLAIRE", birth_given_all="CLAIRE ANNE",
                birth_date=date(1975, 3, 12), sex="F", birthplace_insee="44109", birthplace_city="NANTES"),
            "requester_rpps": requester.rpps,
            "topography_code": "C50.9",
            "laterality": "gauche",  # breast: a paired organ
            "question": "Quelle stratégie thérapeutique proposer en première intention ?",
            "earliest_date": self.today,
        }
        fields.update(overrides)
        return CaseRegistration(**fields)

    def register(self, board_name: str, n: int, **overrides: Any) -> str:
        data = self.registration(board_name, n, **overrides)
        with self.db.uow() as uow:
            return board_services.register_case(uow, data=data, actor="test")

    def assign(self, **kwargs: Any) -> board_services.AssignmentSummary:
        with self.db.uow() as uow:
            return board_services.assign_cases(uow, today=self.today, **kwargs)


def make_board_world(db: Database, *, today: date = BOARD_TODAY, regions: int = 1, weeks: int = 6) -> BoardWorld:
    with db.uow() as uow:
        seeded = seed_directory(uow, seed=7, regions=regions)
        uow.commit()
    with db.uow() as uow:
        board_services.plan_sessions(uow, today=today, horizon_weeks=weeks)
    return BoardWorld(db=db, today=today, board_ids=seeded.boards)


@pytest.fixture
def board_world(database: Database) -> BoardWorld:
    return make_board_world(database)


@pytest.fixture
def make_world(database: Database) -> Any:
    """Build a BoardWorld with other parameters: make_world(today=..., regions=2, weeks=...)."""
    def build(**kwargs: Any) -> BoardWorld:
        return make_board_world(database, **kwargs)

    return build
