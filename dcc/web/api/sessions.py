"""Board sessions: listing, agenda, attendance (quorum) and validation."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query

from dcc.services import boards as board_services
from dcc.services import queries
from dcc.services.schemas import AttendanceInput
from dcc.web.deps import Actor, Today, Uow, ValidationHook
from dcc.web.schemas import AgendaOut, SessionOut, ValidationOut, error_responses

router = APIRouter(prefix="/api/v1/sessions", tags=["Séances"])


@router.get("", response_model=list[SessionOut], summary="Lister les séances",
            responses=error_responses(404, 422))
def list_sessions(
    uow: Uow,
    board: Annotated[str | None, Query(description="Identifiant de la RCP")] = None,
    from_: Annotated[date | None,
                     Query(alias="from", description="Date de début incluse (AAAA-MM-JJ)")] = None,
    to: Annotated[date | None, Query(description="Date de fin incluse (AAAA-MM-JJ)")] = None,
) -> list[SessionOut]:
    views = queries.list_sessions(uow, board_id=board, start=from_, end=to)
    return [SessionOut.model_validate(v) for v in views]


@router.get("/{session_id}", response_model=AgendaOut, summary="Ordre du jour d'une séance",
            responses=error_responses(404))
def get_session(session_id: str, uow: Uow) -> AgendaOut:
    return AgendaOut.model_validate(queries.session_agenda(uow, session_id))


@router.post("/{session_id}/attendance", response_model=SessionOut, summary="Enregistrer les présences",
             description="Enregistre la présence (présent, à distance, absent) et calcule le quorum.",
             responses=error_responses(404, 409, 413, 422))
def record_attendance(session_id: str, data: AttendanceInput, uow: Uow, actor: Actor) -> SessionOut:
    board_services.record_attendance(uow, session_id=session_id, data=data, actor=actor)
    return SessionOut.model_validate(queries.session_status(uow, session_id))


@router.post("/{session_id}/validate", response_model=ValidationOut, summary="Valider une séance",
             description="Verrouille les décisions et déclenche la génération des documents ; sans quorum, "
             "les dossiers discutés sont représentés.",
             responses=error_responses(404, 409))
def validate_session(session_id: str, uow: Uow, actor: Actor, today: Today, hook: ValidationHook,
                     background: BackgroundTasks) -> ValidationOut:
    summary = board_services.validate_session(uow, session_id=session_id, today=today, actor=actor)
    if hook is not None and summary.case_ids:
        background.add_task(hook, list(summary.case_ids))
    return ValidationOut(session=SessionOut.model_validate(queries.session_status(uow, session_id)),
                         case_ids=summary.case_ids, represented=summary.represented)
