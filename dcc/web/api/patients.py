"""Patients: the record a user may open (cases, documents) and break-the-glass access."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from dcc.adapters.db import models as m
from dcc.services import access, queries
from dcc.web.deps import CurrentUser, Uow
from dcc.web.schemas import DocumentSummaryOut, error_responses

router = APIRouter(prefix="/api/v1/patients", tags=["Patients"])


class BreakGlassIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason_code: str = Field(description="Motif codé : " + ", ".join(
        f"{code} ({label})" for code, label in access.BREAK_GLASS_REASONS.items()), max_length=20)
    text: str = Field(min_length=10, max_length=2000, description="Justification en texte libre")


class BreakGlassOut(BaseModel):
    id: str
    patient_id: str
    reason_code: str
    expires_at: datetime


class PatientCaseOut(BaseModel):
    id: str
    board_id: str
    status: str
    topography_code: str
    created_at: datetime


class PatientRecordOut(BaseModel):
    id: str
    display_name: str
    ins_qualified: bool
    cases: list[PatientCaseOut]
    documents: list[DocumentSummaryOut]


@router.get("/{patient_id}", response_model=PatientRecordOut, summary="Le dossier d'un patient",
            description="Les dossiers RCP et documents du patient visibles par l'utilisateur (équipe de soins, "
            "ou accès d'urgence en cours).", responses=error_responses(404))
def get_patient(patient_id: str, uow: Uow, user: CurrentUser) -> PatientRecordOut:
    access.require(uow, user, "patient", patient_id, access.patient_filter(user))
    patient = uow.session.get(m.Patient, patient_id)
    assert patient is not None
    cases = access.visible_cases_of_patient(uow, user, patient_id)
    docs = access.visible_documents_of_patient(uow, user, patient_id)
    out = PatientRecordOut(
        id=patient.id, display_name=queries.display_name(patient), ins_qualified=patient.ins_qualified,
        cases=[PatientCaseOut(id=c.id, board_id=c.board_id, status=c.status, topography_code=c.topography_code,
                              created_at=c.created_at) for c in cases],
        documents=[DocumentSummaryOut.model_validate(d) for d in docs])
    access.record_read(uow, user, action="patient.read", entity="patient", entity_id=patient_id,
                       patient_ids=[patient_id])
    return out


@router.post("/{patient_id}/break-glass", response_model=BreakGlassOut, status_code=status.HTTP_201_CREATED,
             summary="Accès d'urgence (bris de glace)",
             description="Un médecin hors de l'équipe de soins obtient un accès limité dans le temps au dossier, "
             "avec un motif codé et une justification ; l'accès est journalisé, l'observateur régional alerté "
             "et le patient informé.",
             responses=error_responses(404, 409, 413, 422))
def break_glass(patient_id: str, data: BreakGlassIn, uow: Uow, user: CurrentUser,
                response: Response) -> BreakGlassOut:
    grant = access.break_glass(uow, user, patient_id=patient_id, reason_code=data.reason_code, text=data.text)
    response.headers["Location"] = f"/api/v1/patients/{patient_id}"
    return BreakGlassOut(id=grant.id, patient_id=grant.patient_id, reason_code=grant.reason_code,
                         expires_at=grant.expires_at)
