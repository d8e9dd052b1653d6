"""Patients: the record a user may open (cases, documents), break-the-glass access, and what the patient
decides about the national record (opposition to feeding the DMP) or what identity vigilance establishes
(INS qualified), recorded by the coordinator or the care team."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from dcc.config import get_settings
from dcc.services import access, consent, identity, queries
from dcc.web.deps import CurrentUser, DocumentBuilders, Uow
from dcc.web.routing import ApiRoute
from dcc.web.schemas import DocumentSummaryOut, error_responses

router = APIRouter(prefix="/api/v1/patients", tags=["Patients"], route_class=ApiRoute)


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


class PatientHitOut(BaseModel):
    id: str
    display_name: str
    birth_family: str
    birth_given_first: str
    birth_date: date
    sex: str
    ins_matricule: str | None = Field(description="Matricule INS ; absent quand l'INS n'est pas connue")
    ins_qualified: bool


def hits_out(hits: list[identity.PatientHit]) -> list[PatientHitOut]:
    return [PatientHitOut(**asdict(h)) for h in hits]


@router.get("/search", response_model=list[PatientHitOut], summary="Rechercher un patient",
            description="Patients de votre périmètre dont le nom (de naissance ou d'usage, prénoms ; accents et "
            "casse ignorés), la date de naissance (JJ/MM/AAAA ou AAAA-MM-JJ) ou l'INS (ou son début) "
            "correspondent à chacun des termes de `q` : pour inscrire un dossier sur un patient existant.",
            responses=error_responses(422))
def search(uow: Uow, user: CurrentUser,
           q: Annotated[str, Query(min_length=2, max_length=100, description="Nom, date de naissance ou INS")]
           ) -> list[PatientHitOut]:
    access.require_role(user, "coordinator", "physician",
                        message="Seuls un coordinateur ou un médecin peuvent rechercher un patient.")
    hits = identity.search_patients(uow, q=q, scope=access.patient_filter(user))
    for hit in hits:
        access.record_read(uow, user, action="patient.search", entity="patient", entity_id=hit.id,
                           patient_ids=[hit.id])
    return hits_out(hits)


@router.get("/{patient_id}", response_model=PatientRecordOut, summary="Le dossier d'un patient",
            description="Les dossiers RCP et documents du patient visibles par l'utilisateur (équipe de soins, "
            "ou accès d'urgence en cours).", responses=error_responses(404))
def get_patient(patient_id: str, uow: Uow, user: CurrentUser) -> PatientRecordOut:
    access.require(uow, user, "patient", patient_id, access.patient_filter(user))
    patient = identity.get_patient(uow, patient_id)
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
    grant = access.break_glass(uow, user, patient_id=patient_id, reason_code=data.reason_code, text=data.text,
                               duration=timedelta(minutes=get_settings().break_glass_minutes))
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


class MinorSecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: bool = Field(True, description="true : le patient mineur demande le secret vis-à-vis de ses "
                         "représentants légaux ; false : il le lève")


class MinorSecretOut(BaseModel):
    patient_id: str
    secret_from_legal_representatives: bool
    metadata_updates: int = Field(description="Mises à jour des métadonnées des documents déjà au DMP, en file")


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


@router.post("/{patient_id}/legal-representatives-secret", response_model=MinorSecretOut,
             summary="Secret du mineur vis-à-vis de ses représentants légaux",
             description="Le patient mineur demande que ses documents restent invisibles à ses représentants "
             "légaux (art. L1111-5 du code de la santé publique) : ils sont déposés au DMP avec le code "
             "INVISIBLE_REPRESENTANTS_LEGAUX, ceux déjà déposés sont mis à jour ; false lève le secret. Refusé "
             "(409) pour un patient majeur. Coordonnateur ou équipe de soins.",
             responses=error_responses(404, 409, 413, 422))
def legal_representatives_secret(patient_id: str, data: MinorSecretIn, uow: Uow,
                                 user: CurrentUser) -> MinorSecretOut:
    access.require(uow, user, "patient", patient_id, access.consent_filter(user), action="minor_secret")
    updates = consent.record_minor_secret(uow, patient_id=patient_id, actor=user.login, secret=data.secret)
    return MinorSecretOut(patient_id=patient_id, secret_from_legal_representatives=data.secret,
                          metadata_updates=len(updates))


@router.post("/{patient_id}/identity-qualification", response_model=IdentityOut,
             summary="Identité qualifiée (INS)",
             description="L'identité du patient a été vérifiée (téléservice INSi et pièce d'identité) : ses "
             "documents en attente de l'INS qualifiée partent vers le DMP et ses documents non signés sont "
             "régénérés. Coordonnateur ou équipe de soins. Un patient sans INS ne peut être qualifié (409).",
             responses=error_responses(404, 409))
def identity_qualification(patient_id: str, uow: Uow, user: CurrentUser,
                           builders: DocumentBuilders) -> IdentityOut:
    access.require(uow, user, "patient", patient_id, access.consent_filter(user), action="identity_qualification")
    cda, pdf = builders
    released = consent.qualify_identity(uow, patient_id, user.login, cda=cda, pdf=pdf)
    return IdentityOut(patient_id=patient_id, ins_qualified=True, messages_released=released)
