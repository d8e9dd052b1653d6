"""Validated inputs of the use cases (pydantic). Messages are in French and name the field.

Coded fields (topography, morphology, specialties, treatments) are checked by the use case against the
referentials in force in the database (`dcc.services.codes`), not here: a schema has no database."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from dcc.domain import tumour as tumour_rules
from dcc.domain.identifiers import (
    nir_birth_incoherence,
    nir_birthplace_incoherence,
    nir_sex_incoherence,
    validate_ins_oid,
    validate_nir,
    validate_rpps,
)
from dcc.errors import DccError

ReadinessKind = Literal["organ", "transversal", "oncogenetics", "paediatric"]
IMAGING_MAX_DAYS = 42  # imaging less than 6 weeks old

TNM_PATTERN = r"^(c|p|yp|yc|r)?[TNM][0-4xX]?[a-dA-D]?(is)?(\(.*\))?$|^T(x|X|is|[0-4][a-d]?)$"


def _check(fn, value, field):
    try:
        return fn(value, field=field)
    except DccError as exc:
        raise ValueError(exc.message) from None


class PatientIdentity(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    ins_matricule: str | None = Field(None, description="NIR (13 caractères) et sa clé (2 chiffres) ; absent "
                                      "quand l'INS n'est pas (encore) connue : le patient est alors "
                                      "rapproché sur ses traits, et rien ne part vers le DMP sans INS qualifiée")
    ins_oid: str = "1.2.250.1.213.1.4.8"
    ins_qualified: bool = False
    birth_family: str = Field(min_length=1, max_length=100)
    birth_given_first: str = Field(min_length=1, max_length=100)
    birth_given_all: str = Field(min_length=1, max_length=200)
    birth_date: date
    sex: Literal["M", "F", "U"]
    birthplace_insee: str = Field(pattern=r"^(\d{5}|2[AB]\d{3})$")
    birthplace_city: str = ""
    used_family: str = ""
    used_given: str = ""

    @field_validator("ins_matricule")
    @classmethod
    def _nir(cls, v: str | None) -> str | None:
        return None if not v else str(_check(validate_nir, v, "ins_matricule"))

    @field_validator("ins_oid")
    @classmethod
    def _oid(cls, v: str) -> str:
        return str(_check(validate_ins_oid, v, "ins_oid"))

    @field_validator("birth_date")
    @classmethod
    def _birth(cls, v: date, info: ValidationInfo) -> date:
        if v > date.today():
            raise ValueError("La date de naissance est dans le futur.")
        _coherent(nir_birth_incoherence, info, v)
        return v

    # Identity vigilance: the NIR must agree with the declared traits; each check is attached to the trait
    # it contradicts (fields are validated in declaration order, so the NIR is already known).
    @field_validator("sex")
    @classmethod
    def _sex(cls, v: str, info: ValidationInfo) -> str:
        _coherent(nir_sex_incoherence, info, v)
        return v

    @field_validator("birthplace_insee")
    @classmethod
    def _birthplace(cls, v: str, info: ValidationInfo) -> str:
        birth = info.data.get("birth_date")
        if isinstance(birth, date):
            _coherent(lambda nir, place: nir_birthplace_incoherence(nir, place, birth), info, v)
        return v

    @model_validator(mode="after")
    def _qualified_needs_ins(self) -> PatientIdentity:
        if self.ins_qualified and not self.ins_matricule:
            raise ValueError("Une identité qualifiée exige son INS (matricule NIR ou NIA).")
        return self


def _coherent(check: Any, info: ValidationInfo, value: Any) -> Any:
    """Raise the French message of `check(nir, value)` when the (valid) NIR contradicts the trait."""
    nir = info.data.get("ins_matricule")
    if nir:
        message = check(nir, value)
        if message:
            raise ValueError(message)


class TumourUpdate(BaseModel):
    """The tumour of a case, entered again in full (completing a missing TNM, correcting a laterality...).

    Checked by `dcc.domain.tumour.tumour_problem` (same rules as the registration) in `boards.update_tumour`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    topography_code: str = Field(description="Code CIM-10 (JDV_Tumeur_CISIS)")
    morphology_code: str | None = None
    tnm_t: str | None = None
    tnm_n: str | None = None
    tnm_m: str | None = None
    tnm_edition: int | None = None
    tnm_stage: str | None = Field(None, max_length=10)
    laterality: Literal["droite", "gauche", "bilaterale", "non_precisee"] | None = None
    diagnosis_date: date | None = None


class CaseRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    board_id: str
    patient: PatientIdentity | None = Field(None, description="Identité du patient (traits INS) ; facultative "
                                            "quand `patient_id` désigne un patient existant")
    patient_id: str | None = Field(None, max_length=64, description="Patient existant choisi par le "
                                   "coordinateur (recherche de patients ou proposition de rapprochement)")
    new_patient: bool = Field(False, description="Le coordinateur confirme qu'il s'agit d'un nouveau patient "
                              "malgré un patient existant aux mêmes traits")
    requester_rpps: str
    presenter_rpps: str | None = None
    topography_code: str = Field(description="Code CIM-10 (JDV_Tumeur_CISIS)")
    morphology_code: str | None = None
    tnm_t: str | None = None
    tnm_n: str | None = None
    tnm_m: str | None = Field(None, validate_default=True)
    # Tumour model (issue 11): TNM edition and stage group (FRCP: qualifiers 21917-0 / 21909-7 of the TNM
    # entry), laterality of a paired organ (targetSiteCode qualifier 20228-3), date of diagnosis.
    tnm_edition: int | None = Field(None, validate_default=True, description="Édition UICC de la TNM (ex. 8)")
    tnm_stage: str | None = Field(None, max_length=10, description="Stade UICC (0, I, IA… IVB)")
    laterality: Literal["droite", "gauche", "bilaterale", "non_precisee"] | None = Field(
        None, validate_default=True, description="Latéralité (organes pairs seulement)")
    diagnosis_date: date | None = Field(None, description="Date du diagnostic (inconnue : vide)")
    phase: Literal["initial", "relapse"] = "initial"
    performance_status: int | None = Field(None, ge=0, le=4)
    motive: str = Field("", max_length=4000)
    question: str = Field(min_length=1, max_length=4000)
    summary: str = Field("", max_length=20000)
    discovery_mode: str = Field("", max_length=200)
    urgent: bool = False
    earliest_date: date
    standard: bool = False
    referential_name: str | None = None
    referential_version: str | None = None
    referential_date: date | None = None
    required_specialties: list[str] = Field(default_factory=list)
    # Readiness checklist: what the requester declares present. Which items count depends on the board
    # kind (see `readiness_missing`). A case with missing items is flagged and not assigned, unless the
    # coordinator forces it (`force`, audited).
    pathology_report: bool = Field(True, description="Compte rendu anatomopathologique présent (RCP d'organe)")
    imaging_date: date | None = Field(None, description="Date de l'imagerie de référence (moins de 6 semaines)")
    family_history: bool = Field(True, description="Antécédents familiaux / arbre généalogique (oncogénétique)")
    patient_consent: bool = Field(True, description="Consentement du patient (RCP transversales, oncogénétique)")
    parental_consent: bool = Field(True, description="Consentement des titulaires de l'autorité parentale "
                                                     "(RCP pédiatrique)")
    force: bool = Field(False, description="Le coordinateur force l'inscription d'un dossier incomplet "
                                           "(tracé dans le journal d'audit)")

    @field_validator("requester_rpps", "presenter_rpps")
    @classmethod
    def _rpps(cls, v: str | None) -> str | None:
        return None if v is None else str(_check(validate_rpps, v, "requester_rpps"))

    @field_validator("tnm_t", "tnm_n", "tnm_m")
    @classmethod
    def _tnm(cls, v: str | None, info: ValidationInfo) -> str | None:
        part = str(info.field_name)[-1]
        topo = info.data.get("topography_code")
        if v:
            if topo and not tumour_rules.tnm_applicable(topo):
                raise ValueError(f"La classification TNM ne s'applique pas à la localisation {topo} (hors du champ "
                                 "de la TNM de l'UICC, 8e édition) : laissez T, N et M vides.")
            v = tumour_rules.parse_tnm(part, v).text
        if part == "m":
            given = [bool(info.data.get("tnm_t")), bool(info.data.get("tnm_n")), bool(v)]
            if any(given) and not all(given) and "tnm_t" in info.data and "tnm_n" in info.data:
                raise ValueError("Renseignez les trois catégories T, N et M de la classification TNM (ou aucune).")
        return v or None

    @field_validator("tnm_edition")
    @classmethod
    def _tnm_edition(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is not None:
            topo = info.data.get("topography_code")
            if topo and not tumour_rules.tnm_applicable(topo):
                raise ValueError(f"La classification TNM ne s'applique pas à la localisation {topo} : "
                                 "pas d'édition TNM.")
            return tumour_rules.check_edition(v)
        if info.data.get("tnm_t"):
            raise ValueError("Précisez l'édition de la classification TNM de l'UICC (ex. 8).")
        return v

    @field_validator("tnm_stage")
    @classmethod
    def _tnm_stage(cls, v: str | None, info: ValidationInfo) -> str | None:
        if not v:
            return None
        topo = info.data.get("topography_code")
        if topo and not tumour_rules.tnm_applicable(topo):
            raise ValueError(f"Le stade UICC ne s'applique pas à la localisation {topo} (hors du champ de la TNM).")
        return tumour_rules.check_stage(v)

    @field_validator("laterality")
    @classmethod
    def _laterality(cls, v: str | None, info: ValidationInfo) -> str | None:
        topo = info.data.get("topography_code")
        problem = tumour_rules.laterality_problem(topo, v) if topo else None
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("diagnosis_date")
    @classmethod
    def _diagnosis_date(cls, v: date | None, info: ValidationInfo) -> date | None:
        if v is None:
            return v
        if v > date.today():
            raise ValueError("La date du diagnostic est dans le futur.")
        patient = info.data.get("patient")
        if patient is not None and v < patient.birth_date:
            raise ValueError("La date du diagnostic précède la date de naissance du patient.")
        return v

    @model_validator(mode="after")
    def _patient_given(self) -> CaseRegistration:
        if self.patient is None and not self.patient_id:
            raise ValueError("Indiquez l'identité du patient ou choisissez un patient existant.")
        if self.patient_id and self.new_patient:
            raise ValueError("Choisissez un patient existant ou confirmez un nouveau patient, pas les deux.")
        return self

    @model_validator(mode="after")
    def _standard_needs_referential(self) -> CaseRegistration:
        if self.standard and not (self.referential_name and self.referential_version and self.referential_date):
            raise ValueError("Un dossier standard exige le nom, la version et la date du référentiel.")
        return self

    def readiness_missing(self, board_kind: ReadinessKind = "organ") -> list[str]:
        """What is missing for a board of this kind (French labels; empty when the case is ready).

        organ (and recours): pathology report, imaging less than 6 weeks old at the earliest date;
        paediatric: the same plus the parental consent; transversal: the patient's consent;
        oncogenetics: family history and the patient's consent to genetic analysis.
        """
        missing: list[str] = []
        if board_kind in ("organ", "paediatric"):
            if not self.pathology_report:
                missing.append("compte rendu anatomopathologique")
            if self.imaging_date is not None and (self.earliest_date - self.imaging_date).days > IMAGING_MAX_DAYS:
                missing.append("imagerie de moins de 6 semaines")
        if board_kind == "paediatric" and not self.parental_consent:
            missing.append("consentement des titulaires de l'autorité parentale")
        if board_kind == "oncogenetics":
            if not self.family_history:
                missing.append("antécédents familiaux (arbre généalogique)")
            if not self.patient_consent:
                missing.append("consentement du patient à l'analyse génétique")
        if board_kind == "transversal" and not self.patient_consent:
            missing.append("consentement du patient")
        return missing


class AttendanceInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attendance: dict[str, Literal["present", "remote", "absent"]]


EntryCode = Annotated[str, Field(max_length=200)]  # a code, or a suggestion's « code — libellé »


class DecisionInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    session_id: str
    case_status: Literal["discussed", "registered"]
    proposal_codes: list[str] = Field(default_factory=list)
    proposal_text: str = Field("", max_length=20000)
    drug_codes: list[EntryCode] = Field(default_factory=list, max_length=40, description="Médicaments proposés : codes "
                                  "ATC (ex. L01CD01) ou UCD (7 ou 13 chiffres) en vigueur dans la base")
    act_codes: list[EntryCode] = Field(default_factory=list, max_length=40, description="Actes proposés : codes CCAM "
                                 "en vigueur dans la base")
    conform_to_referential: bool | None = None
    departure_justification: str = Field("", max_length=4000)
    trial_proposed: bool = False
    trial_name: str = Field("", max_length=200)
    comment: str = Field("", max_length=4000)
    referential_name: str = Field("", max_length=200, description="Référentiel appliqué (texte libre ; vide : "
                                  "celui du dossier est gardé)")

    @model_validator(mode="after")
    def _justify(self) -> DecisionInput:
        if self.case_status == "discussed" and not self.proposal_codes and not self.proposal_text:
            raise ValueError("Une décision « discuté en séance » doit comporter une proposition : cochez au moins "
                             "un traitement ou rédigez la proposition.")
        if self.conform_to_referential is False and not self.departure_justification:
            raise ValueError("Une proposition non conforme au référentiel doit être justifiée.")
        if self.trial_proposed and not self.trial_name:
            raise ValueError("Indiquez l'essai clinique proposé.")
        return self
