"""Session management of the coordinator's pages: add an extra session to a board, and say where each case
would go when a session is cancelled or moved (the preview is computed by the same use cases, rolled back)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.domain.calendar import PARIS, working_days_before
from dcc.domain.states import SessionStatus
from dcc.errors import Conflict, NotFound, ValidationFailed
from dcc.services import boards as board_services
from dcc.services.audit import record_audit
from dcc.services.queries import display_name
from dcc.services.uow import UnitOfWork


def add_session(uow: UnitOfWork, *, board_id: str, starts_at: datetime, today: date, actor: str,
                capacity: int | None = None) -> str:
    """Add an extra session to a board (outside its rule). A naive `starts_at` is Europe/Paris time; its
    registration deadline follows the board's delay. Refused in the past, on an inactive board, or at the
    time of another session of the board. Returns the session id."""
    board = uow.session.get(m.Board, board_id)
    if board is None:
        raise NotFound(f"RCP « {board_id} » introuvable.")
    if not board.active:
        raise Conflict("La RCP est désactivée : aucune séance ne peut lui être ajoutée.")
    local = starts_at.replace(tzinfo=PARIS) if starts_at.tzinfo is None else starts_at.astimezone(PARIS)
    if local.date() < today:
        raise ValidationFailed(f"La date de la séance ({local:%d/%m/%Y}) est dans le passé.", field="starts_at")
    if capacity is not None and not 1 <= capacity <= 200:
        raise ValidationFailed("La capacité doit être entre 1 et 200 dossiers.", field="capacity")
    utc = local.astimezone(UTC)
    for other in repo.sessions_of_board(uow.session, board_id):
        if other.starts_at == utc or other.occurrence == utc:
            state = " (annulée)" if other.status == SessionStatus.CANCELLED else ""
            raise ValidationFailed(f"La RCP a déjà une séance{state} le {local:%d/%m/%Y à %H:%M}.",
                                   field="starts_at")
    est = uow.session.get(m.Establishment, board.establishment_id)
    region = uow.session.get(m.Region, est.region_id) if est else None
    session = m.Session(board_id=board_id, occurrence=utc, starts_at=utc, capacity=capacity or board.capacity,
                        registration_deadline=working_days_before(
                            local.date(), board.deadline_working_days,
                            alsace_moselle=bool(region and region.alsace_moselle)))
    uow.session.add(session)
    uow.session.flush()
    record_audit(uow, actor=actor, action="session.add", entity="session", entity_id=session.id,
                 detail={"board_id": board_id, "starts_at": utc.isoformat()})
    uow.commit()
    return session.id


@dataclass(frozen=True)
class MoveRow:
    """One case of a cancelled or moved session, and where it goes (None: back to the cases to assign)."""

    case_id: str
    patient: str
    registration_number: str
    urgent: bool
    target_session_id: str | None
    target_starts_at: datetime | None
    reason: str


def move_rows(uow: UnitOfWork, moves: dict[str, board_services.CaseMove]) -> list[MoveRow]:
    cases = {c.id: c for c in (uow.session.get(m.Case, cid) for cid in moves) if c is not None}
    patients = repo.patients_by_ids(uow.session, [c.patient_id for c in cases.values()])
    rows = []
    for case_id, move in moves.items():
        case = cases[case_id]
        target = uow.session.get(m.Session, move.session_id) if move.session_id else None
        rows.append(MoveRow(case_id=case_id, patient=display_name(patients[case.patient_id]),
                            registration_number=case.registration_number or case.id[:8].upper(),
                            urgent=case.urgent, target_session_id=move.session_id,
                            target_starts_at=target.starts_at if target else None, reason=move.reason))
    return sorted(rows, key=lambda r: (not r.urgent, r.patient))


@dataclass(frozen=True)
class Preview:
    rows: list[MoveRow]
    staying: int  # cases that stay on the (moved) session


def preview_cancel(uow: UnitOfWork, *, session_id: str, today: date, actor: str) -> Preview:
    """Where each case of the session would go if it were cancelled now (nothing written)."""
    summary = board_services.cancel_session(uow, session_id=session_id, today=today, actor=actor, dry_run=True)
    return Preview(rows=move_rows(uow, summary.moves), staying=0)


def preview_move(uow: UnitOfWork, *, session_id: str, new_start: datetime, today: date, actor: str) -> Preview:
    """Which cases would leave the session if it were moved to `new_start`, and where (nothing written)."""
    before = len(repo.cases_of_session(uow.session, session_id))
    summary = board_services.move_session(uow, session_id=session_id, new_start=new_start, today=today,
                                          actor=actor, dry_run=True)
    return Preview(rows=move_rows(uow, summary.moves), staying=before - len(summary.moves))
