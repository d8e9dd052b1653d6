"""Cases: registration, reading, the board's decision; the coordinator's manual move and readiness override.
Scoped by the user; every read is audited."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from dcc.errors import IdentityConflict, ValidationFailed
from dcc.services import access, identity, queries, treatment_start
from dcc.services import boards as board_services
from dcc.services.documents import complete_tumour, regenerate_case_documents
from dcc.services.schemas import CaseRegistration, DecisionInput, TumourUpdate
from dcc.services.uow import UnitOfWork
from dcc.web.api.patients import hits_out
from dcc.web.auth import User
from dcc.web.deps import CurrentUser, DocumentBuilders, Now, Today, Uow
from dcc.web.routing import ApiRoute
from dcc.web.schemas import CaseCreatedOut, CaseOut, DecisionOut, DocumentSummaryOut, error_responses

router = APIRouter(prefix="/api/v1/cases", tags=["Dossiers"], route_class=ApiRoute)


@router.post("", response_model=CaseCreatedOut, status_code=status.HTTP_201_CREATED,
             summary="Inscrire un dossier",
             description="Identitovigilance (règles INS) : le NIR doit concorder avec le sexe, l'année et le mois "
             "de naissance et le département de naissance (422) ; une INS déjà connue avec d'autres traits est "
             "refusée (409, jamais fusionnée) ; un patient aux mêmes traits (nom de naissance, premier prénom, "
             "date de naissance, sexe) doit être choisi (`patient_id`) ou le nouveau patient confirmé "
             "(`new_patient`) : 409 avec les `candidates` visibles ; un second dossier ouvert du même patient "
             "sur la même RCP est refusé (409).",
             responses=error_responses(409, 413, 422))
def register_case(data: CaseRegistration, uow: Uow, user: CurrentUser, response: Response) -> CaseCreatedOut:
    access.require_role(user, "coordinator", "physician",
                        message="Seuls un coordinateur ou un médecin peuvent inscrire un dossier.")
    if not access.can_register_on_board(uow, user, data.board_id):
        raise ValidationFailed(f"La RCP « {data.board_id} » n'existe pas.", field="board_id")
    if user.role == "physician" and data.requester_rpps != access.own_rpps(uow, user):
        raise ValidationFailed("Un médecin inscrit un dossier en son nom : le RPPS du demandeur doit être le "
                               "vôtre.", field="requester_rpps")
    try:
        case_id = board_services.register_case(uow, data=data, actor=user.login)
    except IdentityConflict as exc:
        return identity_conflict_response(uow, user, exc)  # type: ignore[return-value]
    view = queries.get_case(uow, case_id)
    response.headers["Location"] = f"/api/v1/cases/{case_id}"
    return CaseCreatedOut(id=case_id, status=view.case.status, not_ready=list(view.case.not_ready or []))


def identity_conflict_response(uow: UnitOfWork, user: User, exc: IdentityConflict) -> JSONResponse:
    """409 with the candidates the user may see (name, birth date, INS); the others are only counted."""
    visible = identity.visible_patients(uow, exc.candidates, scope=access.patient_filter(user))
    body = exc.to_dict() | {"candidates": [h.model_dump(mode="json") for h in hits_out(visible)],
                            "hidden_candidates": len(exc.candidates) - len(visible)}
    return JSONResponse(body, status_code=exc.status_code)


@router.get("/{case_id}", response_model=CaseOut, summary="Un dossier", responses=error_responses(404))
def get_case(case_id: str, uow: Uow, user: CurrentUser) -> CaseOut:
    access.require(uow, user, "case", case_id, access.case_filter(user))
    view = queries.get_case(uow, case_id)
    c = view.case
    visible_docs = access.visible_document_ids(uow, user, [d.id for d in view.documents])
    base = {name: getattr(c, name) for name in CaseOut.model_fields
            if name not in ("patient_display_name", "ins_qualified", "decision", "documents", "represented_by_id")}
    out = CaseOut(**base, patient_display_name=view.patient_display_name, ins_qualified=view.ins_qualified,
                  represented_by_id=view.represented_by.id if view.represented_by else None,
                  decision=DecisionOut.model_validate(view.decision) if view.decision else None,
                  documents=[DocumentSummaryOut.model_validate(d) for d in view.documents if d.id in visible_docs])
    access.record_read(uow, user, action="case.read", entity="case", entity_id=case_id, patient_ids=[c.patient_id])
    return out


@router.post("/{case_id}/decision", response_model=DecisionOut, summary="Enregistrer la décision de la RCP",
             responses=error_responses(404, 409, 413, 422))
def record_decision(case_id: str, data: DecisionInput, uow: Uow, user: CurrentUser, now: Now) -> DecisionOut:
    access.require(uow, user, "case", case_id, access.case_filter(user), action="decision")
    if not access.can_decide(uow, user, case_id):
        raise access.AccessDenied("Seuls le coordinateur de la RCP ou un médecin membre peuvent enregistrer la "
                                  "décision.")
    board_services.record_decision(uow, case_id=case_id, data=data, actor=user.login, now=now)
    return DecisionOut.model_validate(queries.get_decision(uow, case_id))


# ------------------------------------------------------------------------- coordinator: move, force


class CaseMoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(min_length=1, max_length=64, description="Séance de la même RCP")
    force: bool = Field(False, description="Dérogation du coordinateur (journalisée) : séance complète, "
                        "inscriptions closes, séance avant la date au plus tôt, dossier incomplet")


class CaseMoveResultOut(BaseModel):
    case_id: str
    from_session_id: str | None
    session_id: str
    reason: str
    overrides: list[str] = Field(description="Contraintes levées par la dérogation : capacity, "
                                 "registration_deadline, earliest_date, not_ready")


class ForceOut(BaseModel):
    case_id: str
    forced: list[str] = Field(description="Éléments manquants passés outre (vide : le dossier était prêt)")
    status: str
    not_ready: list[str]


def _require_coordinator(uow: UnitOfWork, user: User, case_id: str, action: str) -> None:
    """404 outside the user's scope; 403 unless the user is the coordinator of the case's board."""
    access.require(uow, user, "case", case_id, access.case_filter(user), action=action)
    if user.role != "coordinator" or not access.can_decide(uow, user, case_id):
        raise access.AccessDenied("Seul le coordinateur de la RCP peut déplacer un dossier ou forcer son "
                                  "inscription.")


@router.post("/{case_id}/move", response_model=CaseMoveResultOut, summary="Déplacer un dossier vers une séance",
             description="Inscrit le dossier à une séance planifiée de sa RCP. Une séance complète, des "
             "inscriptions closes, une séance avant la date au plus tôt ou un dossier incomplet sont refusés "
             "(422, champ nommé) sauf dérogation du coordinateur (`force`, journalisée).",
             responses=error_responses(404, 409, 413, 422))
def move_case(case_id: str, data: CaseMoveIn, uow: Uow, user: CurrentUser, today: Today) -> CaseMoveResultOut:
    _require_coordinator(uow, user, case_id, "move")
    if not access.visible_session_ids(uow, user, [data.session_id]):  # another 3C's session: as if missing
        raise ValidationFailed(f"La séance « {data.session_id} » n'existe pas.", field="session_id")
    result = board_services.move_case(uow, case_id=case_id, session_id=data.session_id, today=today,
                                      force=data.force, actor=user.login)
    return CaseMoveResultOut(case_id=result.case_id, from_session_id=result.from_session_id,
                             session_id=result.session_id, reason=result.reason, overrides=list(result.overrides))


@router.post("/{case_id}/force", response_model=ForceOut, summary="Forcer un dossier incomplet",
             description="Le coordinateur passe outre les éléments manquants d'un dossier en attente : il devient "
             "affectable ; la dérogation est journalisée avec ce qui manquait.",
             responses=error_responses(404, 409))
def force_case(case_id: str, uow: Uow, user: CurrentUser) -> ForceOut:
    _require_coordinator(uow, user, case_id, "force")
    forced = board_services.force_not_ready(uow, case_id=case_id, actor=user.login)
    case = queries.get_case(uow, case_id).case
    return ForceOut(case_id=case_id, forced=forced, status=case.status, not_ready=list(case.not_ready or []))


class RegenerationOut(BaseModel):
    case_id: str
    removed: list[str] = Field(description="Brouillons remplacés (supprimés ; tracés dans le journal d'audit)")
    created: list[str] = Field(description="Nouveaux brouillons")
    refused: str = Field(description="Motif quand les documents ne peuvent toujours pas être générés")
    documents_missing: list[str]


@router.post("/{case_id}/regenerate", response_model=RegenerationOut, summary="Régénérer les documents non signés",
             description="Remplace les brouillons du dossier (nouveaux identifiants) et relance la génération "
             "d'un dossier refusé pour données manquantes, par exemple après la qualification de l'identité. "
             "Refusé (409) quand un document du dossier est signé : il suit le circuit de correction. "
             "Coordinateur de la RCP.", responses=error_responses(404, 409))
def regenerate(case_id: str, uow: Uow, user: CurrentUser, builders: DocumentBuilders) -> RegenerationOut:
    access.require(uow, user, "case", case_id, access.case_filter(user), action="regenerate")
    if user.role != "coordinator" or not access.can_decide(uow, user, case_id):
        raise access.AccessDenied("Seul le coordinateur de la RCP peut régénérer les documents d'un dossier.")
    cda, pdf = builders
    result = regenerate_case_documents(uow, case_id, user.login, cda, pdf)
    case = queries.get_case(uow, case_id).case
    return RegenerationOut(case_id=case_id, removed=result.removed, created=result.created, refused=result.refused,
                           documents_missing=list(case.documents_missing or []))


@router.put("/{case_id}/tumour", response_model=CaseOut, summary="Saisir à nouveau la tumeur d'un dossier",
            description="Le coordinateur complète ou corrige la tumeur (TNM, stade, édition, latéralité, date du "
            "diagnostic, morphologie) avec les règles de l'inscription ; refusé (409) quand un document signé la "
            "décrit déjà. Quand la décision est validée, les documents non signés du dossier sont régénérés "
            "(brouillons remplacés, dossier refusé pour données manquantes repris).",
            responses=error_responses(404, 409, 413, 422))
def update_tumour(case_id: str, data: TumourUpdate, uow: Uow, user: CurrentUser, today: Today,
                  builders: DocumentBuilders) -> CaseOut:
    _require_coordinator(uow, user, case_id, "update_tumour")
    cda, pdf = builders
    complete_tumour(uow, case_id=case_id, data=data, today=today, actor=user.login, cda=cda, pdf=pdf)
    return get_case(case_id, uow, user)


class FirstTreatmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_treatment_date: date | None = Field(description="Jour de début du premier traitement (vide : non "
                                              "renseigné) ; ni avant le diagnostic, ni dans le futur")


class FirstTreatmentOut(BaseModel):
    case_id: str
    first_treatment_date: date | None
    recorded_by: str | None


@router.put("/{case_id}/first-treatment", response_model=FirstTreatmentOut,
            summary="Date du premier traitement",
            description="Saisie après coup par l'équipe de soins (médecin de l'équipe, infirmier(e) de "
            "coordination) ou le coordinateur de la RCP ; sert aux indicateurs (dossier discuté avant le premier "
            "traitement, délai RCP → premier traitement). Refusée avant la date du diagnostic ou dans le futur "
            "(422), sur un dossier représenté ou retiré (409). `null` efface la date (non renseignée).",
            responses=error_responses(404, 409, 422))
def record_first_treatment(case_id: str, data: FirstTreatmentIn, uow: Uow, user: CurrentUser,
                           today: Today) -> FirstTreatmentOut:
    treatment_start.record_first_treatment(uow, user, case_id=case_id, when=data.first_treatment_date,
                                           today=today)
    case = treatment_start.first_treatment(uow, case_id)
    return FirstTreatmentOut(case_id=case_id, first_treatment_date=case[0], recorded_by=case[1])
