"""Cases: registration, reading, the board's decision."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from dcc.services import boards as board_services
from dcc.services import queries
from dcc.services.schemas import CaseRegistration, DecisionInput
from dcc.web.deps import Actor, Uow
from dcc.web.schemas import CaseCreatedOut, CaseOut, DecisionOut, DocumentSummaryOut, error_responses

router = APIRouter(prefix="/api/v1/cases", tags=["Dossiers"])


@router.post("", response_model=CaseCreatedOut, status_code=status.HTTP_201_CREATED,
             summary="Inscrire un dossier", responses=error_responses(413, 422))
def register_case(data: CaseRegistration, uow: Uow, actor: Actor, response: Response) -> CaseCreatedOut:
    case_id = board_services.register_case(uow, data=data, actor=actor)
    view = queries.get_case(uow, case_id)
    response.headers["Location"] = f"/api/v1/cases/{case_id}"
    return CaseCreatedOut(id=case_id, status=view.case.status, not_ready=list(view.case.not_ready or []))


@router.get("/{case_id}", response_model=CaseOut, summary="Un dossier", responses=error_responses(404))
def get_case(case_id: str, uow: Uow) -> CaseOut:
    view = queries.get_case(uow, case_id)
    c = view.case
    base = {name: getattr(c, name) for name in CaseOut.model_fields
            if name not in ("patient_display_name", "ins_qualified", "decision", "documents")}
    return CaseOut(**base, patient_display_name=view.patient_display_name, ins_qualified=view.ins_qualified,
                   decision=DecisionOut.model_validate(view.decision) if view.decision else None,
                   documents=[DocumentSummaryOut.model_validate(d) for d in view.documents])


@router.post("/{case_id}/decision", response_model=DecisionOut, summary="Enregistrer la décision de la RCP",
             responses=error_responses(404, 409, 413, 422))
def record_decision(case_id: str, data: DecisionInput, uow: Uow, actor: Actor) -> DecisionOut:
    board_services.record_decision(uow, case_id=case_id, data=data, actor=actor)
    return DecisionOut.model_validate(queries.get_decision(uow, case_id))
