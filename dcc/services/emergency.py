"""Break-the-glass from the pages: a physician outside a patient's care team, on the "Introuvable" page of one
of the patient's cases, asks for an emergency access with a coded reason and a text; the grant
(access.break_glass: audited, monitor alerted, patient informed) lasts the configured time, and the case is
then shown with a banner saying so.

Coded reasons: the access itself is, in the national list ANS TRE_R248_ModeAcces (OID 1.2.250.1.213.1.1.4.248,
see /work/shared/reference/domain-notes.md §3, source S6), mode `bris_de_glace` ("Accès en bris de glace");
that list has no finer reasons, so the reason is an HL7 v3 PurposeOfUse code (ETREAT, TREAT, COC, PATRQT) —
a purpose of use, never a consent code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import exists, select

from dcc.adapters.db import models as m
from dcc.errors import NotFound
from dcc.services import access, queries
from dcc.services.uow import UnitOfWork

ACCESS_MODE = ("bris_de_glace", "Accès en bris de glace")  # TRE_R248_ModeAcces
ACCESS_MODE_SYSTEM = "1.2.250.1.213.1.1.4.248"


def reasons() -> list[tuple[str, str]]:
    return list(access.BREAK_GLASS_REASONS.items())


def request_for_case(uow: UnitOfWork, user: access.User, *, case_id: str, reason_code: str, text: str,
                     minutes: int) -> access.BreakGlassGrant:
    """Grant an emergency access to the patient of `case_id` for `minutes` (see access.break_glass)."""
    case = uow.session.get(m.Case, case_id)
    if case is None:
        raise NotFound(f"Dossier « {case_id} » introuvable.")
    return access.break_glass(uow, user, patient_id=case.patient_id, reason_code=reason_code, text=text,
                              duration=timedelta(minutes=minutes))


@dataclass(frozen=True)
class Grant:
    reason_code: str
    reason: str
    expires_at: datetime


@dataclass(frozen=True)
class CaseView:
    case_id: str
    patient_name: str
    birth_date: date
    board_name: str
    status: str
    motive: str
    question: str
    session_starts_at: datetime | None
    documents: list[tuple[str, int, str]]  # (kind, version, status)
    emergency: Grant | None  # the grant through which the user reads it, None for the care team


def active_grant(uow: UnitOfWork, user: access.User, patient_id: str) -> Grant | None:
    q = (select(m.BreakGlass).join(m.AppUser, m.AppUser.id == m.BreakGlass.user_id)
         .where(m.AppUser.login == user.login, m.BreakGlass.patient_id == patient_id,
                m.BreakGlass.expires_at > access.now_utc()).order_by(m.BreakGlass.expires_at.desc()))
    grant = uow.session.scalars(q).first()
    if grant is None:
        return None
    return Grant(grant.reason_code, access.BREAK_GLASS_REASONS.get(grant.reason_code, grant.reason_code),
                 grant.expires_at)


def case_view(uow: UnitOfWork, user: access.User, case_id: str) -> CaseView:
    """A case the physician may read (care team or a live emergency access), audited as `case.read`;
    otherwise NotFound, the same as a missing case."""
    access.require_role(user, "physician", message="Cette page est celle des médecins.")
    access.require(uow, user, "case", case_id, access.case_filter(user))
    case = uow.session.get(m.Case, case_id)
    assert case is not None
    patient = uow.session.get(m.Patient, case.patient_id)
    board = uow.session.get(m.Board, case.board_id)
    assert patient is not None and board is not None
    in_team = uow.session.execute(select(exists().where(
        m.Patient.id == patient.id, m.Patient.id.in_(access.care_team_patients(user))))).scalar()
    grant = None if in_team else active_grant(uow, user, patient.id)
    session = uow.session.get(m.Session, case.session_id) if case.session_id else None
    docs = list(uow.session.execute(select(m.Document.kind, m.Document.version, m.Document.status).where(
        m.Document.case_id == case_id, access.document_filter(user)).order_by(m.Document.created_at)).all())
    view = CaseView(case_id=case.id, patient_name=queries.display_name(patient), birth_date=patient.birth_date,
                    board_name=board.name, status=case.status, motive=case.motive, question=case.question,
                    session_starts_at=session.starts_at if session else None,
                    documents=[(k, v, s) for k, v, s in docs], emergency=grant)
    access.record_read(uow, user, action="case.read", entity="case", entity_id=case_id, patient_ids=[patient.id],
                       detail={"via": "bris_de_glace"} if grant else {})
    return view
