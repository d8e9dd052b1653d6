"""Coordinator (3C) reads and use cases of the pages: the cases still to assign, the case list with its
filters, editing and withdrawing a case, and the immediate assignment of a newly registered case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Integer, bindparam, func, select

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.domain.calendar import PARIS
from dcc.domain.clock import not_started, now_utc
from dcc.domain.states import CaseStatus, advance
from dcc.errors import Conflict, NotFound, ValidationFailed
from dcc.services import boards as board_services
from dcc.services import identity
from dcc.services.audit import record_audit
from dcc.services.queries import display_name, display_name_from
from dcc.services.schemas import CaseRegistration
from dcc.services.uow import UnitOfWork


@dataclass(frozen=True)
class PendingRow:
    case: m.Case
    patient: str
    board: m.Board


def pending_cases(uow: UnitOfWork, board_ids: set[str]) -> list[PendingRow]:
    """The cases waiting for a session on the given boards (oldest first)."""
    rows = [c for c in repo.pending_cases(uow.session) if c.board_id in board_ids]
    patients = repo.patients_by_ids(uow.session, [c.patient_id for c in rows])
    boards = repo.boards_by_ids(uow.session, list({c.board_id for c in rows}))
    return [PendingRow(case=c, patient=display_name(patients[c.patient_id]), board=boards[c.board_id])
            for c in rows]


def professional_by_rpps(uow: UnitOfWork, rpps: str) -> m.Professional | None:
    return repo.professional_by_rpps(uow.session, rpps)


# ------------------------------------------------------------------------------------------ case list

PAGE_SIZE = 25


@dataclass(frozen=True)
class CaseListItem:
    """What a row of the case list shows of a case (read as columns, not as an ORM object)."""

    id: str
    registration_number: str
    urgent: bool
    status: str
    session_id: str | None
    assignment_reason: str
    withdrawal_reason: str
    not_ready: list[str]


@dataclass(frozen=True)
class CaseRow:
    case: CaseListItem
    patient: str
    ins: str
    board: str
    session_starts_at: datetime | None


@dataclass(frozen=True)
class CasePage:
    rows: list[CaseRow]
    total: int
    page: int
    pages: int


_CASE_LIST_COLUMNS = (m.Case.id, m.Case.registration_number, m.Case.urgent, m.Case.status, m.Case.session_id,
                      m.Case.assignment_reason, m.Case.withdrawal_reason, m.Case.not_ready, m.Patient.birth_family,
                      m.Patient.used_family, m.Patient.used_given, m.Patient.birth_given_first,
                      m.Patient.ins_matricule, m.Board.name, m.Session.starts_at)


_CASE_LIST_STATEMENTS: dict[tuple[bool, ...], tuple[Any, Any]] = {}


def _case_list_statements(*shape: bool) -> tuple[Any, Any]:
    """(count, page) statements of the case list for one shape of its filters (patients found, board, status,
    session, from, to), built once: the values, the scope's boards and the offset are parameters."""
    statements = _CASE_LIST_STATEMENTS.get(shape)
    if statements is None:
        patients, board, status, session, date_from, date_to = shape
        conditions: list[ColumnElement[bool]] = [m.Case.board_id.in_(bindparam("boards", expanding=True))]
        if patients:
            conditions.append(m.Case.patient_id.in_(bindparam("patients", expanding=True)))
        if board:
            conditions.append(m.Case.board_id == bindparam("board_id"))
        if status:
            conditions.append(m.Case.status == bindparam("status"))
        if session:
            conditions.append(m.Case.session_id == bindparam("session_id"))
        if date_from:
            conditions.append(m.Session.starts_at >= bindparam("date_from", type_=m.Session.starts_at.type))
        if date_to:
            conditions.append(m.Session.starts_at < bindparam("date_to", type_=m.Session.starts_at.type))
        counted = select(func.count()).select_from(m.Case)
        if date_from or date_to:
            counted = counted.join(m.Session, m.Session.id == m.Case.session_id)
        query = (select(*_CASE_LIST_COLUMNS)
                 .join(m.Patient, m.Patient.id == m.Case.patient_id).join(m.Board, m.Board.id == m.Case.board_id)
                 .outerjoin(m.Session, m.Session.id == m.Case.session_id)
                 .where(*conditions)
                 .order_by(m.Case.created_at.desc(), m.Case.id).limit(PAGE_SIZE)
                 .offset(bindparam("offset", type_=Integer)))
        statements = _CASE_LIST_STATEMENTS[shape] = (counted.where(*conditions), query)
    return statements


def search_cases(uow: UnitOfWork, *, board_ids: set[str], q: str = "", board_id: str = "", status: str = "",
                 session_id: str = "", date_from: date | None = None, date_to: date | None = None,
                 page: int = 1) -> CasePage:
    """The cases of `board_ids` (the caller's scope) matching every filter, newest first, PAGE_SIZE a page.

    `q`: the registration's patient search (every word: a name, accents and case ignored, a birth date or the
    start of an INS; its first SEARCH_LIMIT patients); the dates bound the day (Europe/Paris) of the case's
    session (cases without a session are then left out). The rows are read as columns (a list read builds
    no ORM objects)."""
    if status and status not in {s.value for s in CaseStatus}:
        raise ValidationFailed("Statut de dossier inconnu.", field="statut")
    if date_from and date_to and date_to < date_from:
        raise ValidationFailed("La date de fin précède la date de début.", field="au")
    hits: list[str] = []
    if q.strip():  # the registration's patient search (names, birth date, INS), within these boards' patients
        scope = m.Patient.id.in_(select(m.Case.patient_id).where(m.Case.board_id.in_(sorted(board_ids))))
        hits = [h.id for h in identity.search_patients(uow, q=q, scope=scope)]
    counted, query = _case_list_statements(bool(q.strip()), bool(board_id), bool(status), bool(session_id),
                                           date_from is not None, date_to is not None)
    params: dict[str, Any] = {
        "boards": sorted(board_ids), "patients": hits, "board_id": board_id, "status": status,
        "session_id": session_id,
        "date_from": datetime.combine(date_from, time.min, tzinfo=PARIS) if date_from else None,
        "date_to": datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=PARIS) if date_to else None}
    connection = uow.session.connection()
    total = connection.execute(counted, params).scalar() or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    params["offset"] = (page - 1) * PAGE_SIZE
    rows = [CaseRow(case=CaseListItem(id=cid, registration_number=number, urgent=urgent, status=st,
                                      session_id=sid, assignment_reason=assignment, withdrawal_reason=withdrawal,
                                      not_ready=list(not_ready or [])),
                    patient=display_name_from(birth_family, used_family, used_given, given), ins=ins or "",
                    board=name, session_starts_at=at)
            for (cid, number, urgent, st, sid, assignment, withdrawal, not_ready, birth_family, used_family,
                 used_given, given, ins, name, at) in connection.execute(query, params).all()]
    return CasePage(rows=rows, total=int(total), page=page, pages=pages)


# ------------------------------------------------------------------------------ registration, assigned at once


@dataclass(frozen=True)
class Registered:
    case_id: str
    session_id: str | None
    session_starts_at: datetime | None
    board_name: str
    reason: str


def register_and_assign(uow: UnitOfWork, *, data: CaseRegistration, today: date, actor: str) -> Registered:
    """Register a case, then assign it at once with the scheduled flow's service (`assign_cases`, limited to
    this case): where it went and why, or why it waits."""
    case_id = board_services.register_case(uow, data=data, actor=actor)
    board_services.assign_cases(uow, today=today, case_ids=[case_id])
    case = uow.session.get(m.Case, case_id)
    assert case is not None
    board = uow.session.get(m.Board, case.board_id)
    assert board is not None
    session = uow.session.get(m.Session, case.session_id) if case.session_id else None
    return Registered(case_id=case_id, session_id=case.session_id,
                      session_starts_at=session.starts_at if session else None, board_name=board.name,
                      reason=case.assignment_reason or "")


# ------------------------------------------------------------------------------------ edit and withdraw


class CaseEdit(BaseModel):
    """What the coordinator may change on a case before its session."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    question: str = Field(min_length=1, max_length=4000)
    motive: str = Field("", max_length=4000)
    summary: str = Field("", max_length=20000)
    urgent: bool = False
    earliest_date: date


def _open_case(uow: UnitOfWork, case_id: str, doing: str, now: datetime | None) -> m.Case:
    case = uow.session.get(m.Case, case_id)
    if case is None:
        raise NotFound(f"Dossier « {case_id} » introuvable.")
    if case.status not in (CaseStatus.PENDING, CaseStatus.ASSIGNED):
        raise Conflict(f"Le dossier est « {_label(case.status)} » : il ne peut plus être {doing}.")
    if case.session_id:
        session = uow.session.get(m.Session, case.session_id)
        if session is not None and not not_started(session.starts_at, now or now_utc()):
            raise Conflict(f"La séance du dossier a commencé : il ne peut plus être {doing}.")
    return case


def _label(status: str) -> str:
    from dcc.domain.states import label

    return label(CaseStatus(status))


def edit_case(uow: UnitOfWork, *, case_id: str, data: CaseEdit, today: date, actor: str,
              now: datetime | None = None) -> list[str]:
    """Change a case's question, motive, summary, urgency or earliest date before its session (audited with
    the previous values). An earliest date after its session's day is refused: move the case first.
    `now`: the real time (None: the clock's)."""
    case = _open_case(uow, case_id, "modifié", now)
    if case.session_id:
        session = uow.session.get(m.Session, case.session_id)
        assert session is not None
        day = board_services.session_date(session)
        if data.earliest_date > day:
            raise ValidationFailed(f"Le dossier est inscrit à la séance du {day:%d/%m/%Y} : une date au plus tôt "
                                   "postérieure demande de déplacer d'abord le dossier.", field="earliest_date")
    before = {k: getattr(case, k) for k in CaseEdit.model_fields}
    changed = [k for k in CaseEdit.model_fields if getattr(data, k) != before[k]]
    for key in changed:
        setattr(case, key, getattr(data, key))
    if changed:
        record_audit(uow, actor=actor, action="case.edit", entity="case", entity_id=case.id,
                     patient_id=case.patient_id, detail={"before": {k: str(before[k]) for k in changed}})
    uow.commit()
    return changed


def withdraw_case(uow: UnitOfWork, *, case_id: str, reason: str, actor: str, now: datetime | None = None) -> None:
    """Withdraw a case before its discussion (patient's choice, duplicate, treatment started…): it leaves its
    session's agenda; the reason is kept on the case and in the audit trail."""
    reason = reason.strip()
    if not 5 <= len(reason) <= 500:
        raise ValidationFailed("Indiquez le motif du retrait (5 à 500 caractères).", field="motif")
    case = _open_case(uow, case_id, "retiré", now)
    previous = case.session_id
    advance(case, CaseStatus.WITHDRAWN)
    case.session_id = None
    case.withdrawal_reason = reason
    uow.session.flush()
    record_audit(uow, actor=actor, action="case.withdraw", entity="case", entity_id=case.id,
                 patient_id=case.patient_id, detail={"reason": reason, "session_id": previous})
    uow.commit()
