"""Patients: the record a user may open (cases, documents), break-the-glass access, and what the patient
decides about the national record (opposition to feeding the DMP) or what identity vigilance establishes
(INS qualified), recorded by the coordinator or the care team."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from dcc.adapters.db import models as m
from dcc.services import access, consent, queries
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


class OppositionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opposed: bool = Field(True, description="true : le patient s'oppose à l'alimentation de son DMP ; "
                          "false : il lève son opposition")
    reason: str = Field("", max_length=500, description="Précision (facultative), reprise dans le motif affiché")


class OppositionOut(BaseModel):
    patient_id: str
    dmp_opposition: bool
    messages_changed: int = Field(description="Envois vers le DMP bloqués (opposition) ou relancés (levée)")


class IdentityOut(BaseModel):
    patient_id: str
    ins_qualified: bool
    messages_released: int = Field(description="Envois en attente de l'identité qualifiée, relancés")


@router.post("/{patient_id}/dmp-opposition", response_model=OppositionOut, summary="Opposition au DMP",
             description="Enregistre (ou lève) l'opposition du patient à l'alimentation de son DMP : ses documents "
             "ne sont pas déposés dans le DMP, le motif est affiché sur chaque envoi ; le médecin traitant et les "
             "correspondants reçoivent toujours le compte rendu par messagerie sécurisée. Coordonnateur ou équipe "
             "de soins (pas d'accès d'urgence).", responses=error_responses(404, 413, 422))
def dmp_opposition(patient_id: str, data: OppositionIn, uow: Uow, user: CurrentUser) -> OppositionOut:
    access.require(uow, user, "patient", patient_id, access.consent_filter(user), action="dmp_opposition")
    changed = consent.record_opposition(uow, patient_id=patient_id, actor=user.login, opposed=data.opposed,
                                        reason=data.reason.strip())
    return OppositionOut(patient_id=patient_id, dmp_opposition=data.opposed, messages_changed=changed)


@router.post("/{patient_id}/identity-qualification", response_model=IdentityOut,
             summary="Identité qualifiée (INS)",
             description="L'identité du patient a été vérifiée (téléservice INSi et pièce d'identité) : ses "
             "documents en attente de l'INS qualifiée partent vers le DMP. Coordonnateur ou équipe de soins.",
             responses=error_responses(404))
def identity_qualification(patient_id: str, uow: Uow, user: CurrentUser) -> IdentityOut:
    access.require(uow, user, "patient", patient_id, access.consent_filter(user), action="identity_qualification")
    released = consent.qualify_identity(uow, patient_id, user.login)
    return IdentityOut(patient_id=patient_id, ins_qualified=True, messages_released=released)
