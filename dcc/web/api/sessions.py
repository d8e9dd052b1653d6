"""Board sessions: listing, agenda, attendance (quorum) and validation; cancellation, move and expected
attendance (the board's coordinator only). Scoped by the user; reading an agenda (patients' names and
questions) is audited, once per patient."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from dcc.adapters import orchestration
from dcc.errors import ValidationFailed
from dcc.services import access, queries
from dcc.services import boards as board_services
from dcc.services.schemas import AttendanceInput
from dcc.services.uow import UnitOfWork
from dcc.web.auth import User
from dcc.web.deps import CurrentUser, Now, Today, Uow
from dcc.web.routing import ApiRoute
from dcc.web.schemas import AgendaOut, AttendanceOut, SentBackOut, SessionOut, ValidationOut, error_responses

router = APIRouter(prefix="/api/v1/sessions", tags=["Séances"], route_class=ApiRoute)

MIN_YEAR, MAX_YEAR = 2000, 2100  # beyond: not a session date (and out of the calendar's range)


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
    for name, value in (("from", from_), ("to", to)):
        if value is not None and not MIN_YEAR <= value.year <= MAX_YEAR:
            raise ValidationFailed(f"Champ « {name} » : la date doit être comprise entre {MIN_YEAR} et {MAX_YEAR}.",
                                   field=name)
    if board is not None:
        access.require(uow, user, "board", board, access.board_filter(user))
    views = queries.list_sessions(uow, board_id=board, start=from_, end=to, scope=access.session_filter(user))
    return [SessionOut.model_validate(v) for v in views]


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
def record_attendance(session_id: str, data: AttendanceInput, uow: Uow, user: CurrentUser, now: Now) -> SessionOut:
    _require_manager(uow, user, session_id, "attendance")
    board_services.record_attendance(uow, session_id=session_id, data=data, actor=user.login, now=now)
    return SessionOut.model_validate(queries.session_status(uow, session_id))


class SessionValidateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: bool = Field(False, description="Confirme la validation alors que des dossiers n'ont pas de "
                          "décision : ils repassent à l'affectation (« Non discuté à la séance du … »)")


@router.post("/{session_id}/validate", response_model=ValidationOut, summary="Valider une séance",
             description="Verrouille les décisions et met leurs documents en file de génération (dans la même "
             "transaction ; la génération les produit ensuite, même si ce serveur s'arrête). Sans quorum (ou "
             "sans présence enregistrée), aucune fiche RCP n'est produite : chaque dossier décidé est représenté "
             "à une séance ultérieure. Des dossiers sans décision : 409 qui les liste, sauf `confirm` ; ils "
             "repassent alors à l'affectation.",
             responses=error_responses(404, 409, 422))
def validate_session(session_id: str, uow: Uow, user: CurrentUser, today: Today, now: Now,
                     data: SessionValidateIn | None = None) -> ValidationOut:
    _require_manager(uow, user, session_id, "validate")
    summary = board_services.validate_session(uow, session_id=session_id, today=today,
                                              confirm=data is not None and data.confirm, actor=user.login,
                                              now=now)
    # committed, with its "documents due" rows: ask the generation deployment to run now (best effort)
    orchestration.emit_session_validated(session_id, len(summary.case_ids))
    return ValidationOut(session=SessionOut.model_validate(queries.session_status(uow, session_id)),
                         case_ids=summary.case_ids, represented=summary.represented,
                         represented_from=summary.represented_from,
                         not_discussed=[SentBackOut(case_id=mv.case_id, session_id=mv.session_id, reason=mv.reason)
                                        for mv in summary.not_discussed.values()])


# ------------------------------------------------------------------ coordinator: cancel, move, expected attendance


class CaseMoveOut(BaseModel):
    """Where a case went: another session, or back to pending (`session_id` null) with the reason."""

    case_id: str
    session_id: str | None = Field(description="Nouvelle séance ; null : le dossier repasse en attente")
    reason: str


class CancellationOut(BaseModel):
    session: SessionOut
    moves: list[CaseMoveOut] = Field(description="Les dossiers de la séance et où ils sont allés")
    reassigned: int = Field(description="Dossiers réinscrits à une autre séance")
    back_to_pending: list[str] = Field(description="Dossiers sans séance possible, repassés en attente")


class SessionMoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: datetime = Field(description="Nouveau début (ISO 8601) ; sans fuseau : heure de Paris",
                                examples=["2026-03-24T12:30:00+01:00"])

    @field_validator("starts_at")
    @classmethod
    def _plausible(cls, v: datetime) -> datetime:
        if not MIN_YEAR <= v.year <= MAX_YEAR:
            raise ValueError(f"la date doit être comprise entre {MIN_YEAR} et {MAX_YEAR}")
        return v


class SessionMoveOut(BaseModel):
    session: SessionOut
    moves: list[CaseMoveOut] = Field(description="Dossiers réaffectés car la nouvelle date précède leur date "
                                     "au plus tôt (les autres restent inscrits)")


class ExpectedAttendanceOut(BaseModel):
    session: SessionOut
    attendance: list[AttendanceOut] = Field(description="Présences annoncées (présent, à distance, absent)")


def _require_coordinator(uow: UnitOfWork, user: User, session_id: str, action: str) -> None:
    """404 outside the user's calendar; 403 unless the user is the coordinator of the session's board."""
    access.require(uow, user, "session", session_id, access.session_filter(user), action=action)
    if user.role != "coordinator" or not access.can_manage_session(uow, user, session_id):
        raise access.AccessDenied("Seul le coordinateur de la RCP peut annuler, déplacer une séance ou "
                                  "enregistrer les présences annoncées.")


def _moves(moves: dict[str, board_services.CaseMove]) -> list[CaseMoveOut]:
    return [CaseMoveOut(case_id=mv.case_id, session_id=mv.session_id, reason=mv.reason) for mv in moves.values()]


@router.post("/{session_id}/cancel", response_model=CancellationOut, summary="Annuler une séance",
             description="Annule une séance planifiée (exception à la récurrence) ; ses dossiers sont réinscrits "
             "aux séances suivantes de la RCP en gardant leur priorité, ou repassent en attente. La réponse dit "
             "où chaque dossier est allé.",
             responses=error_responses(404, 409, 422))
def cancel_session(session_id: str, uow: Uow, user: CurrentUser, today: Today) -> CancellationOut:
    _require_coordinator(uow, user, session_id, "cancel")
    summary = board_services.cancel_session(uow, session_id=session_id, today=today, actor=user.login)
    return CancellationOut(session=SessionOut.model_validate(queries.session_status(uow, session_id)),
                           moves=_moves(summary.moves), reassigned=summary.reassigned,
                           back_to_pending=summary.back_to_pending)


@router.post("/{session_id}/move", response_model=SessionMoveOut, summary="Déplacer une séance",
             description="Déplace une séance planifiée ; la date limite d'inscription suit. Les dossiers dont la "
             "date au plus tôt tombe après la nouvelle date sont réaffectés comme après une annulation.",
             responses=error_responses(404, 409, 413, 422))
def move_session(session_id: str, data: SessionMoveIn, uow: Uow, user: CurrentUser, today: Today) -> SessionMoveOut:
    _require_coordinator(uow, user, session_id, "move")
    summary = board_services.move_session(uow, session_id=session_id, new_start=data.starts_at, today=today,
                                          actor=user.login)
    return SessionMoveOut(session=SessionOut.model_validate(queries.session_status(uow, session_id)),
                          moves=_moves(summary.moves))


@router.post("/{session_id}/expected-attendance", response_model=ExpectedAttendanceOut,
             summary="Enregistrer les présences annoncées",
             description="Avant la séance : qui a confirmé sa venue (présent, à distance, absent). La séance reste "
             "planifiée ; les spécialités confirmées décident désormais des dossiers qui peuvent y être affectés.",
             responses=error_responses(404, 409, 413, 422))
def expected_attendance(session_id: str, data: AttendanceInput, uow: Uow, user: CurrentUser) -> ExpectedAttendanceOut:
    _require_coordinator(uow, user, session_id, "expected_attendance")
    board_services.confirm_attendance(uow, session_id=session_id, data=data, actor=user.login)
    attendance = [AttendanceOut(professional_id=a.professional_id, name=a.name, specialty_code=a.specialty_code,
                                mode=a.mode) for a in queries.session_attendance(uow, session_id)]
    return ExpectedAttendanceOut(session=SessionOut.model_validate(queries.session_status(uow, session_id)),
                                 attendance=attendance)
