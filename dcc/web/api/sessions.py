"""Board sessions: listing, agenda, attendance (quorum) and validation. Scoped by the user; reading an agenda
(patients' names and questions) is audited, once per patient."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query

from dcc.services import access, queries
from dcc.services import boards as board_services
from dcc.services.schemas import AttendanceInput
from dcc.services.uow import UnitOfWork
from dcc.web.auth import User
from dcc.web.deps import CurrentUser, Today, Uow, ValidationHook
from dcc.web.schemas import AgendaOut, SessionOut, ValidationOut, error_responses

router = APIRouter(prefix="/api/v1/sessions", tags=["Séances"])


@router.get("", response_model=list[SessionOut], summary="Lister les séances",
            responses=error_responses(404, 422))
def list_sessions(
    uow: Uow,
    user: CurrentUser,
    board: Annotated[str | None, Query(description="Identifiant de la RCP")] = None,
    from_: Annotated[date | None,
                     Query(alias="from", description="Date de début incluse (AAAA-MM-JJ)")] = None,
    to: Annotated[date | None, Query(description="Date de fin incluse (AAAA-MM-JJ)")] = None,
) -> list[SessionOut]:
    if board is not None:
        access.require(uow, user, "board", board, access.board_filter(user))
    views = queries.list_sessions(uow, board_id=board, start=from_, end=to)
    visible = access.visible_session_ids(uow, user, [v.id for v in views])
    return [SessionOut.model_validate(v) for v in views if v.id in visible]


@router.get("/{session_id}", response_model=AgendaOut, summary="Ordre du jour d'une séance",
            responses=error_responses(404))
def get_session(session_id: str, uow: Uow, user: CurrentUser) -> AgendaOut:
    access.require(uow, user, "session", session_id, access.agenda_filter(user))
    agenda = queries.session_agenda(uow, session_id)
    out = AgendaOut.model_validate(agenda)
    access.record_read(uow, user, action="session.agenda_read", entity="session", entity_id=session_id,
                       patient_ids=[item.patient_id for item in agenda.items])
    return out


def _require_manager(uow: UnitOfWork, user: User, session_id: str, action: str) -> None:
    access.require(uow, user, "session", session_id, access.session_filter(user), action=action)
    if not access.can_manage_session(uow, user, session_id):
        raise access.AccessDenied("Seuls le coordinateur de la RCP ou son médecin responsable peuvent "
                                  "gérer cette séance.")


@router.post("/{session_id}/attendance", response_model=SessionOut, summary="Enregistrer les présences",
             description="Enregistre la présence (présent, à distance, absent) et calcule le quorum.",
             responses=error_responses(404, 409, 413, 422))
def record_attendance(session_id: str, data: AttendanceInput, uow: Uow, user: CurrentUser) -> SessionOut:
    _require_manager(uow, user, session_id, "attendance")
    board_services.record_attendance(uow, session_id=session_id, data=data, actor=user.login)
    return SessionOut.model_validate(queries.session_status(uow, session_id))


@router.post("/{session_id}/validate", response_model=ValidationOut, summary="Valider une séance",
             description="Verrouille les décisions et déclenche la génération des documents ; sans quorum, "
             "les dossiers discutés sont représentés.",
             responses=error_responses(404, 409))
def validate_session(session_id: str, uow: Uow, user: CurrentUser, today: Today, hook: ValidationHook,
                     background: BackgroundTasks) -> ValidationOut:
    _require_manager(uow, user, session_id, "validate")
    summary = board_services.validate_session(uow, session_id=session_id, today=today, actor=user.login)
    if hook is not None and summary.case_ids:
        background.add_task(hook, list(summary.case_ids))
    return ValidationOut(session=SessionOut.model_validate(queries.session_status(uow, session_id)),
                         case_ids=summary.case_ids, represented=summary.represented)
