"""Response models of the JSON API (inputs are the services' own pydantic models)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ------------------------------------------------------------------------------------------ errors


class ErrorDetail(BaseModel):
    field: str | None = None
    message: str


class ErrorOut(BaseModel):
    """Every error answer: a stable code, a message in French, and the field at fault when there is one."""

    code: str = Field(examples=["donnee_invalide"])
    message: str = Field(examples=["Champ « patient.ins_matricule » : le NIR est invalide."])
    field: str | None = Field(None, examples=["patient.ins_matricule"])
    details: list[ErrorDetail] | None = Field(
        None, description="Toutes les erreurs de validation, champ par champ")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the error answers of a route."""
    labels = {
        400: "Requête invalide",
        404: "Ressource introuvable",
        409: "Conflit avec l'état actuel",
        413: "Corps de requête trop volumineux",
        422: "Donnée invalide (le champ en cause est nommé)",
        503: "Service indisponible",
    }
    return {code: {"model": ErrorOut, "description": labels.get(code, "Erreur")} for code in codes}


# ------------------------------------------------------------------------------------------ health


class HealthOut(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]


# ------------------------------------------------------------------------------------------ boards


class BoardOut(_Out):
    id: str
    establishment_id: str
    rcp_id: str
    name: str
    kind: str
    appareil_code: str | None
    organe_code: str | None
    transversal_code: str | None
    recours: bool
    pediatric: bool
    recurrence: str
    start_time: str
    duration_min: int
    capacity: int
    deadline_working_days: int
    place: str
    video_link: str
    required_specialties: list[str]
    responsible_id: str
    coordinator_id: str


class MemberOut(_Out):
    id: str
    rpps: str
    name: str
    specialty_code: str
    is_physician: bool


class BoardDetailOut(BoardOut):
    members: list[MemberOut]


class CreatedOut(BaseModel):
    id: str


# ---------------------------------------------------------------------------------------- sessions


class SessionOut(_Out):
    id: str
    board_id: str
    board_name: str
    starts_at: datetime
    ends_at: datetime
    registration_deadline: date
    capacity: int
    status: str = Field(description="planned | held | validated | cancelled")
    quorum: str = Field(description="met | not_met | unknown")
    quorum_missing: list[str] = Field(description="Ce qui manque pour atteindre le quorum")
    cases: int = Field(description="Nombre de dossiers inscrits")


class AgendaItemOut(_Out):
    position: int
    case_id: str
    registration_number: str
    patient_id: str
    patient_display_name: str
    ins_qualified: bool
    topography_code: str
    phase: str
    question: str
    urgent: bool
    standard: bool
    status: str
    assignment_reason: str
    not_ready: list[str] = Field(description="Éléments manquants du dossier (vide si prêt)")
    decision_status: str | None


class AttendanceOut(_Out):
    professional_id: str
    name: str
    specialty_code: str
    mode: str


class AgendaOut(_Out):
    session: SessionOut
    place: str
    video_link: str
    items: list[AgendaItemOut]
    attendance: list[AttendanceOut]


class SentBackOut(BaseModel):
    """A case sent back to assignment at validation: its new session, or null (pending), and the reason."""

    case_id: str
    session_id: str | None = Field(description="Nouvelle séance ; null : le dossier repasse en attente")
    reason: str


class ValidationOut(BaseModel):
    session: SessionOut
    case_ids: list[str] = Field(description="Dossiers dont les documents sont à générer (séance avec quorum)")
    represented: list[str] = Field(
        description="Nouveaux dossiers créés pour être représentés (quorum non atteint : aucune fiche RCP)")
    represented_from: dict[str, str] = Field(
        default_factory=dict, description="Nouveau dossier -> dossier représenté (statut « represented »)")
    not_discussed: list[SentBackOut] = Field(
        default_factory=list, description="Dossiers sans décision renvoyés à l'affectation (après confirmation)")


# ------------------------------------------------------------------------------------------- cases


class CaseCreatedOut(BaseModel):
    id: str
    status: str
    not_ready: list[str]


class ProposalEntryOut(BaseModel):
    kind: str = Field(description="drug (médicament) ou act (acte)")
    system: str = Field(description="Référentiel : ATC, UCD ou CCAM")
    code: str
    code_system: str = Field(description="OID du système de codes")
    label: str
    version: str = Field(description="Version du référentiel en vigueur à la saisie")


class DecisionOut(_Out):
    id: str
    case_id: str
    session_id: str
    case_status: str
    proposal_codes: list[str]
    proposal_text: str
    proposal_entries: list[ProposalEntryOut] = Field(default_factory=list, description="Médicaments et actes "
                                                     "codés de la proposition")
    conform_to_referential: bool | None
    departure_justification: str
    trial_proposed: bool
    trial_name: str
    comment: str
    quorum: str
    recorded_at: datetime
    locked: bool


class DocumentSummaryOut(_Out):
    id: str
    kind: str
    version: int
    unique_id: str
    status: str


class CaseOut(_Out):
    id: str
    board_id: str
    session_id: str | None
    patient_id: str
    patient_display_name: str
    ins_qualified: bool
    requester_id: str
    presenter_id: str
    topography_code: str
    morphology_code: str | None
    tnm_t: str | None
    tnm_n: str | None
    tnm_m: str | None
    tnm_edition: int | None = None
    tnm_stage: str | None = None
    laterality: str | None = None
    diagnosis_date: date | None = None
    first_treatment_date: date | None = None  # entered afterwards by the care team (None: non renseignée)
    phase: str
    performance_status: int | None
    motive: str
    question: str
    discovery_mode: str
    urgent: bool
    earliest_date: date
    standard: bool
    referential_name: str | None
    referential_version: str | None
    referential_date: date | None
    required_specialties: list[str]
    status: str
    registration_number: str
    assignment_reason: str
    not_ready: list[str]
    documents_missing: list[str] = Field(description="Champs manquants empêchant la génération des documents")
    represented_from_id: str | None = Field(
        None, description="Dossier que celui-ci représente (sa séance n'avait pas le quorum)")
    represented_by_id: str | None = Field(
        None, description="Dossier qui représente celui-ci (statut « represented » : quorum non atteint)")
    created_at: datetime
    decision: DecisionOut | None
    documents: list[DocumentSummaryOut]


# --------------------------------------------------------------------------------------- documents


class DocumentOut(_Out):
    id: str
    case_id: str
    kind: str
    set_id: str
    version: int
    unique_id: str
    status: str
    sha256: str = Field(description="SHA-256 du CDA")
    pdf_sha256: str
    template_version: str
    signed_at: datetime | None
    replaces_id: str | None
    created_at: datetime


# -------------------------------------------------------------------------------------- deliveries


class DeliveryOut(_Out):
    id: str
    document_id: str
    document_unique_id: str
    destination: str
    state: str = Field(description="pending | delivered | dead | held | blocked")
    kind: str = Field(description="submit (dépôt) | metadata_update (mise à jour des métadonnées)")
    hold_reason: str = Field(description="Pourquoi l'envoi est retenu ou bloqué (vide sinon)")
    attempts: int
    last_error: str
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
