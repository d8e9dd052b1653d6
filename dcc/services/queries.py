"""Read-only use cases behind the web API: flat views built from the repositories, never committing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.domain.calendar import PARIS, SessionEntry, board_calendar_ics
from dcc.domain.states import OutboxState
from dcc.errors import NotFound, ValidationFailed
from dcc.services.uow import UnitOfWork

DELIVERY_STATES = tuple(s.value for s in OutboxState)

T = TypeVar("T", bound=m.Base)


def ping(uow: UnitOfWork) -> None:
    repo.ping(uow.session)


def _get(uow: UnitOfWork, model: type[T], id_: str, what: str) -> T:
    obj = uow.session.get(model, id_)
    if obj is None:
        raise NotFound(f"{what} « {id_} » introuvable.")
    return obj


def display_name(p: m.Patient) -> str:
    """Identity-vigilance display: birth name, used name when it differs, first given name."""
    return display_name_from(p.birth_family, p.used_family, p.used_given, p.birth_given_first)


def display_name_from(birth_family: str, used_family: str | None, used_given: str | None,
                      birth_given_first: str) -> str:
    name = birth_family
    if used_family and used_family != birth_family:
        name += f" (nom d'usage {used_family})"
    return f"{name} {used_given or birth_given_first}".strip()


def professional_name(p: m.Professional) -> str:
    return f"{p.given} {p.family}".strip()


# ------------------------------------------------------------------------------------------ boards


@dataclass(frozen=True)
class MemberView:
    id: str
    rpps: str
    name: str
    specialty_code: str
    is_physician: bool


@dataclass(frozen=True)
class BoardView:
    board: m.Board
    members: list[MemberView] = field(default_factory=list)


def list_boards(uow: UnitOfWork) -> list[m.Board]:
    return repo.boards(uow.session)


def get_board(uow: UnitOfWork, board_id: str) -> BoardView:
    board = _get(uow, m.Board, board_id, "RCP")
    members = [MemberView(id=p.id, rpps=p.rpps, name=professional_name(p), specialty_code=p.specialty_code,
                          is_physician=p.is_physician) for p in repo.board_members(uow.session, board_id)]
    return BoardView(board=board, members=members)


def board_calendar(uow: UnitOfWork, board_id: str, *, stamp: datetime | None = None) -> tuple[m.Board, bytes]:
    """The board's sessions (cancelled ones left out) as an iCalendar file."""
    board = _get(uow, m.Board, board_id, "RCP")
    entries: list[SessionEntry] = [
        (f"{s.id}@dcc", s.starts_at, s.starts_at + timedelta(minutes=board.duration_min), board.place,
         board.video_link)
        for s in repo.sessions_of_board(uow.session, board_id) if s.status != "cancelled"
    ]
    return board, board_calendar_ics(board.name, entries, stamp=stamp)


# ---------------------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class SessionView:
    id: str
    board_id: str
    board_name: str
    starts_at: datetime
    ends_at: datetime
    registration_deadline: date
    capacity: int
    status: str
    quorum: str
    quorum_missing: list[str]
    cases: int


def _session_view(s: m.Session, board: m.Board, cases: int) -> SessionView:
    return SessionView(id=s.id, board_id=s.board_id, board_name=board.name, starts_at=s.starts_at,
                       ends_at=s.starts_at + timedelta(minutes=board.duration_min),
                       registration_deadline=s.registration_deadline, capacity=s.capacity, status=s.status,
                       quorum=s.quorum, quorum_missing=list(s.quorum_detail or []), cases=cases)


def _paris_midnight(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=PARIS)


def list_sessions(uow: UnitOfWork, *, board_id: str | None, start: date | None,
                  end: date | None, scope: ColumnElement[bool] | None = None) -> list[SessionView]:
    """Sessions whose local (Europe/Paris) date is within [start, end], inclusive; only those matching
    `scope` (an access filter of dcc.services.access) when given."""
    if start is not None and end is not None and end < start:
        raise ValidationFailed("La date de fin précède la date de début.", field="to")
    if board_id is not None:
        _get(uow, m.Board, board_id, "RCP")
    rows = repo.session_rows_between(
        uow.session, board_id=board_id, start=_paris_midnight(start) if start else None,
        end=_paris_midnight(end + timedelta(days=1)) if end else None, where=scope)
    load = repo.session_load(uow.session, [row[0] for row in rows])
    return [_session_view_of_row(row, load.get(row[0], 0)) for row in rows]


def _session_view_of_row(row: Any, cases: int) -> SessionView:
    """The view of a row of `repo.session_rows_between`."""
    sid, bid, starts_at, deadline, capacity, status, quorum, detail, name, duration = row
    return SessionView(id=sid, board_id=bid, board_name=name, starts_at=starts_at,
                       ends_at=starts_at + timedelta(minutes=duration), registration_deadline=deadline,
                       capacity=capacity, status=status, quorum=quorum, quorum_missing=list(detail or []),
                       cases=cases)


@dataclass(frozen=True)
class AgendaItem:
    position: int
    case_id: str
    registration_number: str
    patient_id: str
    patient_display_name: str
    ins_qualified: bool
    topography_code: str
    phase: str
    question: str
    urgent: bool
    standard: bool
    status: str
    assignment_reason: str
    not_ready: list[str]
    decision_status: str | None


@dataclass(frozen=True)
class AttendanceView:
    professional_id: str
    name: str
    specialty_code: str
    mode: str


@dataclass(frozen=True)
class AgendaView:
    session: SessionView
    place: str
    video_link: str
    items: list[AgendaItem]
    attendance: list[AttendanceView]


def session_agenda(uow: UnitOfWork, session_id: str) -> AgendaView:
    """The session and its cases in presentation order (urgent first, then by registration)."""
    s = _get(uow, m.Session, session_id, "Séance")
    board = _get(uow, m.Board, s.board_id, "RCP")
    rows = repo.agenda_rows(uow.session, session_id)  # columns only, with the patient and the decision
    items = [
        AgendaItem(position=i, case_id=case_id, registration_number=number, patient_id=patient_id,
                   patient_display_name=display_name_from(birth_family, used_family, used_given, given),
                   ins_qualified=ins_qualified, topography_code=topography, phase=phase, question=question,
                   urgent=urgent, standard=standard, status=status, assignment_reason=reason,
                   not_ready=list(not_ready or []), decision_status=decision_status)
        for i, (case_id, number, patient_id, birth_family, used_family, used_given, given, ins_qualified,
                topography, phase, question, urgent, standard, status, reason, not_ready, decision_status)
        in enumerate(rows, start=1)
    ]
    return AgendaView(session=_session_view(s, board, len(rows)), place=board.place,
                      video_link=board.video_link, items=items, attendance=session_attendance(uow, session_id))


def session_attendance(uow: UnitOfWork, session_id: str) -> list[AttendanceView]:
    """Who is recorded at a session (expected or actual), by name."""
    return sorted((AttendanceView(professional_id=pid, name=f"{given} {family}".strip(), specialty_code=specialty,
                                  mode=mode)
                   for pid, given, family, specialty, mode in repo.attendance_rows(uow.session, session_id)),
                  key=lambda a: (a.name, a.professional_id))


def session_status(uow: UnitOfWork, session_id: str) -> SessionView:
    """One session's view (columns only, with its board's name and duration and its number of cases)."""
    row = repo.session_row(uow.session, session_id)
    if row is None:
        raise NotFound(f"Séance « {session_id} » introuvable.")
    return _session_view_of_row(row, repo.session_load(uow.session, [session_id]).get(session_id, 0))


# ------------------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class DocumentSummary:
    id: str
    kind: str
    version: int
    unique_id: str
    status: str
    announced: bool = False
    masked: bool = False


@dataclass(frozen=True)
class CaseView:
    case: m.Case
    patient_display_name: str
    ins_qualified: bool
    decision: m.Decision | None
    documents: list[DocumentSummary]
    dmp_opposition: bool = False
    represented_from: CaseLink | None = None  # the case entry this one re-presents (no quorum there)
    represented_by: CaseLink | None = None  # the case entry re-presenting this one
    has_ins: bool = False  # the patient has an INS (identity vigilance: none known yet is possible)


@dataclass(frozen=True)
class CaseLink:
    """Another entry of the same case (a re-presentation): its id and its session (None: pending)."""

    id: str
    session_id: str | None
    session_starts_at: datetime | None


def _case_link(row: Any) -> CaseLink | None:
    return CaseLink(id=row[0], session_id=row[1], session_starts_at=row[2]) if row is not None else None


def get_case(uow: UnitOfWork, case_id: str) -> CaseView:
    """The case and what its view shows of the patient, decision, documents (columns only: never their CDA
    or PDF) and re-presentations."""
    case = _get(uow, m.Case, case_id, "Dossier")
    patient = repo.patient_header(uow.session, case.patient_id)
    if patient is None:
        raise NotFound(f"Patient « {case.patient_id} » introuvable.")
    birth_family, used_family, used_given, birth_given_first, ins_qualified, dmp_opposition, ins_matricule = patient
    docs = [DocumentSummary(id=d_id, kind=kind, version=version, unique_id=unique_id, status=status_,
                            announced=announced_at is not None, masked=masked)
            for d_id, kind, version, unique_id, status_, announced_at, masked
            in repo.document_summaries(uow.session, case_id)]
    return CaseView(case=case, patient_display_name=display_name_from(birth_family, used_family, used_given,
                                                                  birth_given_first),
                    ins_qualified=ins_qualified, decision=repo.decision_of_case(uow.session, case_id),
                    documents=docs, dmp_opposition=dmp_opposition,
                    represented_from=_case_link(repo.case_link(uow.session, case_id=case.represented_from_id)
                                                if case.represented_from_id else None),
                    represented_by=_case_link(repo.case_link(uow.session, represented_from_id=case.id)),
                    has_ins=bool(ins_matricule))


def get_decision(uow: UnitOfWork, case_id: str) -> m.Decision:
    decision = repo.decision_of_case(uow.session, case_id)
    if decision is None:
        raise NotFound(f"Aucune décision pour le dossier « {case_id} ».")
    return decision


# --------------------------------------------------------------------------------------- documents


DocumentRecord = m.Document
"""A stored document (the type the web layer names without importing the database adapter)."""


def get_document(uow: UnitOfWork, document_id: str) -> m.Document:
    return _get(uow, m.Document, document_id, "Document")


def count_documents_by_status(uow: UnitOfWork) -> dict[str, int]:
    return repo.count_documents_by_status(uow.session)


# -------------------------------------------------------------------------------------- deliveries


@dataclass(frozen=True)
class DeliveryView:
    id: str
    document_id: str
    document_unique_id: str
    destination: str
    state: str
    kind: str
    hold_reason: str
    attempts: int
    last_error: str
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None


def _delivery_view(msg: m.OutboxMessage, unique_id: str) -> DeliveryView:
    return DeliveryView(id=msg.id, document_id=msg.document_id, document_unique_id=unique_id,
                        destination=msg.destination, state=msg.state, kind=msg.kind,
                        hold_reason=msg.hold_reason or "", attempts=msg.attempts,
                        last_error=msg.last_error, next_attempt_at=msg.next_attempt_at,
                        created_at=msg.created_at, delivered_at=msg.delivered_at)


def get_delivery(uow: UnitOfWork, message_id: str) -> DeliveryView:
    msg = _get(uow, m.OutboxMessage, message_id, "Envoi")
    doc = _get(uow, m.Document, msg.document_id, "Document")
    return _delivery_view(msg, doc.unique_id)


def count_outbox_by_state(uow: UnitOfWork) -> dict[str, int]:
    return repo.count_outbox_by_state(uow.session)


def count_flow_runs(uow: UnitOfWork) -> dict[tuple[str, str], int]:
    """Finished Prefect flow runs by (flow, outcome), as recorded by the flows' state hooks."""
    counts: dict[tuple[str, str], int] = {}
    for name, detail in repo.flow_run_events(uow.session):
        key = (name, str(detail.get("outcome", "inconnu")))
        counts[key] = counts.get(key, 0) + 1
    return counts
