"""Queries. Services never build SQL themselves: they call these functions with the unit of work's session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import aliased, defer

from dcc.adapters.db import models as m
from dcc.adapters.db.statements import StatementsByFilter
from dcc.errors import NotFound


def get(session: DbSession, model: type[m.Base], id_: str, *, what: str) -> m.Base:
    obj = session.get(model, id_)
    if obj is None:
        raise NotFound(f"{what} « {id_} » introuvable.")
    return obj


def region_by_code(session: DbSession, code: str) -> m.Region | None:
    return session.scalars(select(m.Region).where(m.Region.code == code)).one_or_none()


def establishment_by_finess(session: DbSession, finess: str) -> m.Establishment | None:
    return session.scalars(select(m.Establishment).where(m.Establishment.finess == finess)).one_or_none()


def professional_by_rpps(session: DbSession, rpps: str) -> m.Professional | None:
    return session.scalars(select(m.Professional).where(m.Professional.rpps == rpps)).one_or_none()


_PROFESSIONALS_BY_IDS = select(m.Professional).where(m.Professional.id.in_(bindparam("ids", expanding=True)))


def professionals_by_ids(session: DbSession, ids: Sequence[str]) -> dict[str, m.Professional]:
    if not ids:
        return {}
    rows = session.scalars(_PROFESSIONALS_BY_IDS, {"ids": list(ids)}).all()
    return {p.id: p for p in rows}


def board_by_rcp_id(session: DbSession, rcp_id: str) -> m.Board | None:
    return session.scalars(select(m.Board).where(m.Board.rcp_id == rcp_id)).one_or_none()


def boards(session: DbSession) -> list[m.Board]:
    return list(session.scalars(select(m.Board).order_by(m.Board.name)).all())


def board_members(session: DbSession, board_id: str) -> list[m.Professional]:
    q = (select(m.Professional).join(m.BoardMember, m.BoardMember.professional_id == m.Professional.id)
         .where(m.BoardMember.board_id == board_id).order_by(m.Professional.family))
    return list(session.scalars(q).all())


def patient_by_ins(session: DbSession, matricule: str, oid: str) -> m.Patient | None:
    q = select(m.Patient).where(m.Patient.ins_matricule == matricule, m.Patient.ins_oid == oid)
    return session.scalars(q).one_or_none()


def ipp_of(session: DbSession, patient_id: str, establishment_id: str) -> m.PatientIdentifier | None:
    q = select(m.PatientIdentifier).where(m.PatientIdentifier.patient_id == patient_id,
                                          m.PatientIdentifier.establishment_id == establishment_id)
    return session.scalars(q).one_or_none()


def sessions_of_board(session: DbSession, board_id: str, *, start: datetime | None = None,
                      end: datetime | None = None) -> list[m.Session]:
    q = select(m.Session).where(m.Session.board_id == board_id)
    if start is not None:
        q = q.where(m.Session.starts_at >= start)
    if end is not None:
        q = q.where(m.Session.starts_at < end)
    return list(session.scalars(q.order_by(m.Session.starts_at)).all())


def sessions_between(session: DbSession, *, board_id: str | None, start: datetime | None,
                     end: datetime | None, where: ColumnElement[bool] | None = None) -> list[m.Session]:
    q = select(m.Session) if where is None else select(m.Session).where(where)
    if board_id:
        q = q.where(m.Session.board_id == board_id)
    if start is not None:
        q = q.where(m.Session.starts_at >= start)
    if end is not None:
        q = q.where(m.Session.starts_at < end)
    return list(session.scalars(q.order_by(m.Session.starts_at)).all())


_SESSION_BOARD = aliased(m.Board)  # built once: an alias proxies every column of its table
_SESSION_ROWS = (select(m.Session.id, m.Session.board_id, m.Session.starts_at, m.Session.registration_deadline,
                        m.Session.capacity, m.Session.status, m.Session.quorum, m.Session.quorum_detail,
                        _SESSION_BOARD.name, _SESSION_BOARD.duration_min)
                 .join(_SESSION_BOARD, _SESSION_BOARD.id == m.Session.board_id))
_SESSION_ROW = _SESSION_ROWS.where(m.Session.id == bindparam("session_id"))
_SESSION_ROWS_BY_SHAPE = StatementsByFilter()


def _session_rows_statement(where: ColumnElement[bool] | None, board: bool, start: bool, end: bool) -> Any:
    """The statement of `session_rows_between` for one shape of its filters (the values are parameters), built
    once per access filter and shape."""

    def build() -> Any:
        q = _SESSION_ROWS if where is None else _SESSION_ROWS.where(where)
        if board:
            q = q.where(m.Session.board_id == bindparam("board_id"))
        if start:
            q = q.where(m.Session.starts_at >= bindparam("start", type_=m.Session.starts_at.type))
        if end:
            q = q.where(m.Session.starts_at < bindparam("end", type_=m.Session.starts_at.type))
        return q.order_by(m.Session.starts_at)

    return _SESSION_ROWS_BY_SHAPE.get(where, build, board, start, end)


def session_row(session: DbSession, session_id: str) -> Any:
    """One session as a row of `session_rows_between` (None when there is no such session); through the ORM
    session, so that its changes not yet flushed are seen."""
    return session.execute(_SESSION_ROW, {"session_id": session_id}).first()


def session_rows_between(session: DbSession, *, board_id: str | None, start: datetime | None,
                         end: datetime | None, where: ColumnElement[bool] | None = None) -> list[Any]:
    """`sessions_between` as plain rows (no ORM objects: list reads): the session's columns with its board's
    name and duration. The board is joined under an alias, so that a `where` with its own subquery on the
    board table is never correlated with it. Run on the session's connection: changes of the session not yet
    flushed are not seen (a read of committed state, as the pages' and the API's lists are)."""
    q = _session_rows_statement(where, bool(board_id), start is not None, end is not None)
    return list(session.connection().execute(q, {"board_id": board_id, "start": start, "end": end}).all())


def open_sessions(session: DbSession, *, from_date: date) -> list[m.Session]:
    q = (select(m.Session).where(m.Session.status == "planned", m.Session.registration_deadline >= from_date)
         .order_by(m.Session.starts_at))
    return list(session.scalars(q).all())


_SESSION_LOAD = (select(m.Case.session_id, func.count())
                 .where(m.Case.session_id.in_(bindparam("ids", expanding=True))).group_by(m.Case.session_id))


def session_load(session: DbSession, session_ids: Sequence[str]) -> dict[str, int]:
    if not session_ids:
        return {}
    rows = session.execute(_SESSION_LOAD, {"ids": list(session_ids)}).all()  # autoflush: assignment counts
    return {sid: n for sid, n in rows if sid is not None}


def pending_cases(session: DbSession) -> list[m.Case]:
    q = select(m.Case).where(m.Case.status == "pending").order_by(m.Case.created_at, m.Case.id)
    return list(session.scalars(q).all())


def representation_of(session: DbSession, case_id: str) -> m.Case | None:
    """The case entry that re-presents `case_id` (its session had no quorum), if any."""
    return session.scalars(select(m.Case).where(m.Case.represented_from_id == case_id)
                           .order_by(m.Case.created_at, m.Case.id)).first()


def cases_of_session(session: DbSession, session_id: str) -> list[m.Case]:
    q = (select(m.Case).where(m.Case.session_id == session_id)
         .order_by(m.Case.urgent.desc(), m.Case.created_at, m.Case.id))
    return list(session.scalars(q).all())


_AGENDA_ROWS = (select(m.Case.id, m.Case.registration_number, m.Case.patient_id, m.Patient.birth_family,
                       m.Patient.used_family, m.Patient.used_given, m.Patient.birth_given_first,
                       m.Patient.ins_qualified, m.Case.topography_code, m.Case.phase, m.Case.question, m.Case.urgent,
                       m.Case.standard, m.Case.status, m.Case.assignment_reason, m.Case.not_ready,
                       m.Decision.case_status)
                .join(m.Patient, m.Patient.id == m.Case.patient_id)
                .outerjoin(m.Decision, m.Decision.case_id == m.Case.id)
                .where(m.Case.session_id == bindparam("session_id"))
                .order_by(m.Case.urgent.desc(), m.Case.created_at, m.Case.id))
_ATTENDANCE_ROWS = (select(m.Attendance.professional_id, m.Professional.given, m.Professional.family,
                           m.Professional.specialty_code, m.Attendance.mode)
                    .join(m.Professional, m.Professional.id == m.Attendance.professional_id)
                    .where(m.Attendance.session_id == bindparam("session_id")))


def agenda_rows(session: DbSession, session_id: str) -> list[Any]:
    """The cases of a session in `cases_of_session`'s order as plain rows, in one query: (id,
    registration_number, patient_id, birth_family, used_family, used_given, birth_given_first, ins_qualified,
    topography_code, phase, question, urgent, standard, status, assignment_reason, not_ready, decision's
    case status or None)."""
    return list(session.execute(_AGENDA_ROWS, {"session_id": session_id}).all())


def attendance_rows(session: DbSession, session_id: str) -> list[Any]:
    """(professional_id, given, family, specialty_code, mode) of who is recorded at a session (a professional
    missing from the directory is left out)."""
    return list(session.execute(_ATTENDANCE_ROWS, {"session_id": session_id}).all())


def attendance(session: DbSession, session_id: str) -> list[m.Attendance]:
    return list(session.scalars(select(m.Attendance).where(m.Attendance.session_id == session_id)).all())


_DECISION_OF_CASE = select(m.Decision).where(m.Decision.case_id == bindparam("case_id"))


def decision_of_case(session: DbSession, case_id: str) -> m.Decision | None:
    return session.scalars(_DECISION_OF_CASE, {"case_id": case_id}).one_or_none()


def documents_of_case(session: DbSession, case_id: str) -> list[m.Document]:
    q = select(m.Document).where(m.Document.case_id == case_id).order_by(m.Document.kind, m.Document.version)
    return list(session.scalars(q).all())


_DOCUMENTS_OF_CASE_WITHOUT_PDF = (select(m.Document)
                                  .options(defer(m.Document.cda), defer(m.Document.pdf, raiseload=True))
                                  .where(m.Document.case_id == bindparam("case_id"))
                                  .order_by(m.Document.kind, m.Document.version))


def documents_of_case_without_pdf(session: DbSession, case_id: str) -> list[m.Document]:
    """`documents_of_case` for a listing: the PDF is not read (it raises if touched), the CDA only when
    touched."""
    return list(session.scalars(_DOCUMENTS_OF_CASE_WITHOUT_PDF, {"case_id": case_id}).all())


# Built once: a case read runs them. Columns only (a document row holds its CDA and PDF), run on the session's
# connection (Core: no ORM loading for plain rows).
_DOCUMENT_SUMMARIES = (select(m.Document.id, m.Document.kind, m.Document.version, m.Document.unique_id,
                              m.Document.status, m.Document.announced_at, m.Document.masked_ps)
                       .where(m.Document.case_id == bindparam("case_id"))
                       .order_by(m.Document.kind, m.Document.version))
_PATIENT_HEADER_COLUMNS = select(m.Patient.id, m.Patient.birth_family, m.Patient.used_family, m.Patient.used_given,
                                 m.Patient.birth_given_first, m.Patient.ins_qualified, m.Patient.dmp_opposition,
                                 m.Patient.ins_matricule)
_PATIENT_HEADER = select(*_PATIENT_HEADER_COLUMNS.selected_columns[1:]).where(m.Patient.id == bindparam("patient_id"))
_CASE_LINK = select(m.Case.id, m.Case.session_id, m.Session.starts_at).outerjoin(
    m.Session, m.Session.id == m.Case.session_id)
_CASE_LINK_BY_ID = _CASE_LINK.where(m.Case.id == bindparam("case_id"))
_CASE_LINK_REPRESENTING = (_CASE_LINK.where(m.Case.represented_from_id == bindparam("case_id"))
                           .order_by(m.Case.created_at, m.Case.id).limit(1))


def document_summaries(session: DbSession, case_id: str) -> list[Any]:
    """(id, kind, version, unique_id, status, announced_at, masked_ps) of a case's documents, by kind and
    version: the columns a case view lists, never the CDA and PDF."""
    return list(session.connection().execute(_DOCUMENT_SUMMARIES, {"case_id": case_id}).all())


def patient_header(session: DbSession, patient_id: str) -> Any:
    """(birth_family, used_family, used_given, birth_given_first, ins_qualified, dmp_opposition,
    ins_matricule) of a patient: what a case view shows of them."""
    return session.connection().execute(_PATIENT_HEADER, {"patient_id": patient_id}).first()


def case_link(session: DbSession, *, case_id: str | None = None,
              represented_from_id: str | None = None) -> Any:
    """(id, session_id, session start) of the case entry `case_id`, or of the first entry re-presenting
    `represented_from_id` (its session had no quorum)."""
    q, key = (_CASE_LINK_BY_ID, case_id) if case_id is not None else (_CASE_LINK_REPRESENTING, represented_from_id)
    return session.connection().execute(q, {"case_id": key}).first()


def document_without_content(session: DbSession, document_id: str) -> m.Document | None:
    """A document's row without its CDA and PDF (which raise if touched): for state changes, where reading
    two large blobs would be most of the query's cost."""
    q = select(m.Document).options(defer(m.Document.cda, raiseload=True), defer(m.Document.pdf, raiseload=True))
    return session.scalars(q.where(m.Document.id == document_id)).one_or_none()


def signed_not_announced(session: DbSession, signer_id: str, *, limit: int = 50) -> list[m.Document]:
    """Documents this physician signed whose announcement consultation is not recorded yet (oldest first),
    without their CDA and PDF."""
    q = (select(m.Document)
         .options(defer(m.Document.cda, raiseload=True), defer(m.Document.pdf, raiseload=True))
         .where(m.Document.signer_id == signer_id, m.Document.status.in_(("signed", "delivered")),
                m.Document.announced_at.is_(None))
         .order_by(m.Document.signed_at, m.Document.id).limit(limit))
    return list(session.scalars(q).all())


def documents_by_ids(session: DbSession, ids: Sequence[str]) -> list[m.Document]:
    return list(session.scalars(select(m.Document).where(m.Document.id.in_(list(ids)))).all())


def documents_to_sign(session: DbSession, signer_id: str | None = None) -> list[m.Document]:
    q = select(m.Document).where(m.Document.status == "draft")
    if signer_id:
        q = q.where(m.Document.signer_id == signer_id)
    return list(session.scalars(q.order_by(m.Document.created_at)).all())


def all_documents(session: DbSession) -> list[m.Document]:
    return list(session.scalars(select(m.Document).order_by(m.Document.created_at)).all())


_OUTBOX_FOR_DOCUMENTS = select(m.OutboxMessage).where(
    m.OutboxMessage.document_id.in_(bindparam("ids", expanding=True)))


def outbox_for_documents(session: DbSession, document_ids: Sequence[str]) -> list[m.OutboxMessage]:
    if not document_ids:
        return []
    return list(session.scalars(_OUTBOX_FOR_DOCUMENTS, {"ids": list(document_ids)}).all())


def last_audit_event(session: DbSession) -> m.AuditEvent | None:
    return session.scalars(select(m.AuditEvent).order_by(m.AuditEvent.id.desc()).limit(1)).one_or_none()


def audit_events(session: DbSession) -> list[m.AuditEvent]:
    return list(session.scalars(select(m.AuditEvent).order_by(m.AuditEvent.id)).all())


# ------------------------------------------------------------------ read side of the web API (queries.py)


def ping(session: DbSession) -> None:
    """A round trip to the database (health check)."""
    session.execute(select(1)).scalar_one()


def count_documents_by_status(session: DbSession) -> dict[str, int]:
    q = select(m.Document.status, func.count()).group_by(m.Document.status)
    return {status: int(n) for status, n in session.execute(q).all()}


def count_outbox_by_state(session: DbSession) -> dict[str, int]:
    q = select(m.OutboxMessage.state, func.count()).group_by(m.OutboxMessage.state)
    return {state: int(n) for state, n in session.execute(q).all()}


def patients_by_ids(session: DbSession, ids: Sequence[str]) -> dict[str, m.Patient]:
    rows = session.scalars(select(m.Patient).where(m.Patient.id.in_(list(ids)))).all()
    return {p.id: p for p in rows}


def boards_by_ids(session: DbSession, ids: Sequence[str]) -> dict[str, m.Board]:
    rows = session.scalars(select(m.Board).where(m.Board.id.in_(list(ids)))).all()
    return {b.id: b for b in rows}


def decisions_of_cases(session: DbSession, case_ids: Sequence[str]) -> dict[str, m.Decision]:
    rows = session.scalars(select(m.Decision).where(m.Decision.case_id.in_(list(case_ids)))).all()
    return {d.case_id: d for d in rows}


# ------------------------------------------------------------------ boards (sessions, cancellation)


def planned_sessions_of_board(session: DbSession, board_id: str, *, start: datetime) -> list[m.Session]:
    """Planned (not held, validated nor cancelled) sessions of a board from `start`, in date order."""
    q = (select(m.Session)
         .where(m.Session.board_id == board_id, m.Session.status == "planned", m.Session.starts_at >= start)
         .order_by(m.Session.starts_at, m.Session.id))
    return list(session.scalars(q).all())


# flows (operational records written by the Prefect flows' state hooks)
def flow_run_events(session: DbSession) -> list[tuple[str, dict[str, object]]]:
    q = select(m.AuditEvent.entity_id, m.AuditEvent.detail).where(m.AuditEvent.action == "flow.run")
    return [(name, dict(detail or {})) for name, detail in session.execute(q).all()]
