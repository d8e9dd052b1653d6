"""Cases: registration, reading, the board's decision. Scoped by the user; every read is audited."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from dcc.errors import ValidationFailed
from dcc.services import access, queries
from dcc.services import boards as board_services
from dcc.services.schemas import CaseRegistration, DecisionInput
from dcc.web.deps import CurrentUser, Uow
from dcc.web.schemas import CaseCreatedOut, CaseOut, DecisionOut, DocumentSummaryOut, error_responses

router = APIRouter(prefix="/api/v1/cases", tags=["Dossiers"])


@router.post("", response_model=CaseCreatedOut, status_code=status.HTTP_201_CREATED,
             summary="Inscrire un dossier", responses=error_responses(413, 422))
def register_case(data: CaseRegistration, uow: Uow, user: CurrentUser, response: Response) -> CaseCreatedOut:
    access.require_role(user, "coordinator", "physician",
                        message="Seuls un coordinateur ou un médecin peuvent inscrire un dossier.")
    if not access.can_register_on_board(uow, user, data.board_id):
        raise ValidationFailed(f"La RCP « {data.board_id} » n'existe pas.", field="board_id")
    if user.role == "physician" and data.requester_rpps != access.own_rpps(uow, user):
        raise ValidationFailed("Un médecin inscrit un dossier en son nom : le RPPS du demandeur doit être le "
                               "vôtre.", field="requester_rpps")
    case_id = board_services.register_case(uow, data=data, actor=user.login)
    view = queries.get_case(uow, case_id)
    response.headers["Location"] = f"/api/v1/cases/{case_id}"
    return CaseCreatedOut(id=case_id, status=view.case.status, not_ready=list(view.case.not_ready or []))


@router.get("/{case_id}", response_model=CaseOut, summary="Un dossier", responses=error_responses(404))
def get_case(case_id: str, uow: Uow, user: CurrentUser) -> CaseOut:
    access.require(uow, user, "case", case_id, access.case_filter(user))
    view = queries.get_case(uow, case_id)
    c = view.case
    visible_docs = access.visible_document_ids(uow, user, [d.id for d in view.documents])
    base = {name: getattr(c, name) for name in CaseOut.model_fields
            if name not in ("patient_display_name", "ins_qualified", "decision", "documents")}
    out = CaseOut(**base, patient_display_name=view.patient_display_name, ins_qualified=view.ins_qualified,
                  decision=DecisionOut.model_validate(view.decision) if view.decision else None,
                  documents=[DocumentSummaryOut.model_validate(d) for d in view.documents if d.id in visible_docs])
    access.record_read(uow, user, action="case.read", entity="case", entity_id=case_id, patient_ids=[c.patient_id])
    return out


@router.post("/{case_id}/decision", response_model=DecisionOut, summary="Enregistrer la décision de la RCP",
             responses=error_responses(404, 409, 413, 422))
def record_decision(case_id: str, data: DecisionInput, uow: Uow, user: CurrentUser) -> DecisionOut:
    access.require(uow, user, "case", case_id, access.case_filter(user), action="decision")
    if not access.can_decide(uow, user, case_id):
        raise access.AccessDenied("Seuls le coordinateur de la RCP ou un médecin membre peuvent enregistrer la "
                                  "décision.")
    board_services.record_decision(uow, case_id=case_id, data=data, actor=user.login)
    return DecisionOut.model_validate(queries.get_decision(uow, case_id))
