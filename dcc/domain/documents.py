"""Clinical document content: what a Fiche RCP (FRCP) or a PPS says, independent of its format.

These frozen dataclasses are the contract between the services (which fill them from the database)
and the document adapters (CDA builder, PDF renderer). Pure Python: no I/O.
Identifiers are stored as the national ids the CDA needs (`8` + RPPS for professionals,
`1` + FINESS for structures); codes are `Code` values taken from the ANS value sets
(see `dcc.valuesets`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime

from dcc.domain.states import DocumentStatus as DocumentStatus  # the document states live with the others


class DocumentKind(enum.StrEnum):
    FRCP = "FRCP"
    PPS = "PPS"




@dataclass(frozen=True)
class Code:
    code: str
    system: str  # code system OID
    display: str


@dataclass(frozen=True)
class Address:
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = "FRANCE"


@dataclass(frozen=True)
class Organization:
    id_nat: str  # Struct_IdNat, e.g. "1" + FINESS (OID 1.2.250.1.71.4.2.2)
    name: str
    address: Address = field(default_factory=Address)
    telecom: str = ""  # e.g. "tel:0242515100"
    practice_setting: Code | None = None  # JDV_J04 (standardIndustryClassCode), e.g. ETABLISSEMENT


@dataclass(frozen=True)
class Professional:
    id_nat: str  # "8" + RPPS (OID 1.2.250.1.71.4.2.1)
    family: str
    given: str
    specialty: Code  # JDV_J01_XdsAuthorSpecialty_CISIS, e.g. G15_10/SM36
    organization: Organization
    prefix: str = ""  # "M", "MME"
    telecom: str = ""
    mssante: str = ""  # secure messaging address


@dataclass(frozen=True)
class Patient:
    ins_matricule: str  # 15 chars: NIR (13) + key (2)
    ins_oid: str  # 1.2.250.1.213.1.4.8 (NIR), .9 (NIA), .10 (test NIR), .11 (demo)
    ins_qualified: bool
    birth_family: str  # strict trait: birth name
    birth_given_first: str  # strict trait: first birth first name
    birth_given_all: str  # all birth first names, space-separated
    birth_date: date
    sex: str  # "M" | "F" | "U"
    birthplace_insee: str  # INSEE COG code of the birth commune ("99xxx" abroad)
    birthplace_city: str = ""
    used_family: str = ""
    used_given: str = ""
    ipp: str = ""  # IPP in the custodian establishment
    ipp_oid: str = ""  # OID of the IPP assigning authority
    address: Address = field(default_factory=Address)


@dataclass(frozen=True)
class Board:
    """The RCP with the national identifiers the FRCP header carries."""

    dsrc_id: str  # national DSRC (ex-RRC) id, root 1.2.250.1.161.1.20.1.1
    dsrc_name: str
    gestionnaire_id: str  # national RCP-manager id, root 1.2.250.1.161.1.20.2.1
    gestionnaire_name: str
    rcp_id: str  # national RCP id, root 1.2.250.1.161.1.20.3.1
    rcp_name: str
    kind: str  # "organ" | "transversal"
    appareil: Code | None = None  # JDV_RCP_Appareil_CISIS (organ boards)
    organe: Code | None = None  # JDV_RCP_Organe_CISIS (organ boards, optional)
    transversal: Code | None = None  # JDV_TraitementSoins_FRCP_CISIS (transversal boards)
    recours: bool = False
    pediatric: bool = False
    facility: Organization | None = None  # where the session takes place
    facility_type: Code | None = None  # JDV_J02, e.g. SA01


@dataclass(frozen=True)
class TNM:
    t: str  # as entered, with its prefix: "T2", "pT1c", "ypT0"
    n: str  # e.g. "N0", "pN1a"
    m: str  # e.g. "M0", "cM0"
    edition: int | None = None  # UICC edition (e.g. 8)
    stage: str = ""  # UICC stage group (0, I, IA... IVB), "" when not entered


@dataclass(frozen=True)
class Tumour:
    topography: Code  # ICD-10 from JDV_Tumeur_CISIS
    morphology: Code | None = None  # JDV_Morphologie_CISIS
    tnm: TNM | None = None
    laterality: str = ""  # French label ("Droite", "Non précisée"); "" for an unpaired organ
    diagnosis_date: date | None = None  # date of diagnosis (nullFlavor UNK in the CDA when None)
    tnm_applicable: bool = True  # False: no UICC TNM for this tumour (CNS, haematological...): NA, not missing
    laterality_code: Code | None = None  # JDV_ModificateurTopographique_CISIS; None: unpaired or not stated


@dataclass(frozen=True)
class PastTreatment:
    kind: Code  # JDV_TypeTraitement_FRCP_CISIS
    start: date | None = None
    end: date | None = None
    text: str = ""


@dataclass(frozen=True)
class ProposedEntry:
    """A drug (ATC or UCD) or an act (CCAM) the board's proposal names, as entered with its referential
    version. The Fiche RCP model has no coded entry for them (its FR-Acte codes are bound to
    JDV_TypeTraitement_FRCP_CISIS): the CDA carries them in the narrative of the care-plan section only."""

    kind: str  # "drug" | "act"
    code: Code
    referential: str  # ATC | UCD | CCAM
    version: str  # version of the referential in force when entered


@dataclass(frozen=True)
class Referential:
    name: str
    version: str
    published: date


@dataclass(frozen=True)
class DocumentIds:
    unique_id_root: str  # document id (OID or UUID) - ClinicalDocument/id/@root
    set_id_root: str  # common to all versions
    version: int = 1
    replaces_unique_id: str | None = None  # RPLC: id of the replaced version


@dataclass(frozen=True)
class Signature:
    """Who carries legal responsibility (legalAuthenticator) and when they signed."""

    signer: Professional
    signed_at: datetime


@dataclass(frozen=True)
class FrcpContent:
    ids: DocumentIds
    created_at: datetime  # timezone-aware
    patient: Patient
    author: Professional
    legal: Signature
    custodian: Organization
    board: Board
    session_date: datetime  # RCP date (encompassingEncounter/effectiveTime/low)
    session_id: str  # session id (root 1.2.250.1.213.1.1.9)
    registration_number: str  # inFulfillmentOf/order/id: patient's registration in the session
    coordinator: Professional
    requester: Professional
    presenter: Professional
    quorum_members: tuple[Professional, ...]
    other_participants: tuple[Professional, ...] = ()
    referring_gp: Professional | None = None  # médecin traitant (nullFlavor when unknown)
    correspondents: tuple[Professional, ...] = ()
    tumour: Tumour | None = None
    motive: str = ""  # motif de présentation (free text)
    discovery_mode: str = ""  # free text (e.g. "Dépistage organisé")
    case_status: str = "discussed"  # "discussed" | "registered"
    referential: Referential | None = None  # mandatory when registered (standard case)
    quorum: str = "met"  # "met" | "not_met" | "unknown"
    phase: str = "initial"  # "initial" | "relapse"
    performance_status: int | None = None  # WHO 0-4
    past_treatments: tuple[PastTreatment, ...] = ()
    case_summary: str = ""
    question: str = ""
    proposal_treatments: tuple[Code, ...] = ()  # JDV_TypeTraitement_FRCP_CISIS
    proposal_text: str = ""
    proposal_entries: tuple[ProposedEntry, ...] = ()  # drugs and acts named (narrative only in the CDA)
    conform_to_referential: bool | None = None
    departure_justification: str = ""
    trial_proposed: bool = False
    trial_name: str = ""
    comment: str = ""
    confidentiality: str = "N"
    document_status: Code | None = None  # JDV_StatutDoc_CISIS; default "approuvé"
    # Added for the CDA body (all optional):
    screening: bool | None = None  # cancer found by screening (63921-1); None = unknown
    diagnostic_opinion: bool = False  # motive: diagnostic opinion requested (MED-235)
    treatment_proposal: bool = True  # motive: treatment proposal requested (ORG-114)
    refer_to_recours: bool = False  # care plan: referral to a recours RCP proposed (ORG-120)
    file_complete: bool = True  # case file complete when presented (GEN-100)
    relapse_date: date | None = None  # date of the relapse when phase == "relapse"
    progression: tuple[bool, bool, bool] | None = None  # (local, regional, distant); None = unknown


@dataclass(frozen=True)
class PlannedTreatment:
    kind: Code  # JDV_TypeTraitementPPS_CISIS
    start: date | None = None
    end: date | None = None
    text: str = ""  # plain words for the patient
    place: str = ""
    responsible: Professional | None = None  # who carries it out (named in the authored plan)


@dataclass(frozen=True)
class SupportCare:
    kind: Code  # JDV_SoinsOncoDeSupport_CISIS or JDV_TypeAccompagnementSocioPro_CISIS
    text: str = ""


@dataclass(frozen=True)
class PpsContent:
    ids: DocumentIds
    created_at: datetime
    patient: Patient
    author: Professional
    legal: Signature
    custodian: Organization
    board: Board
    rcp_date: date  # ORG-189
    frcp_unique_id: str  # referenced document (the Fiche RCP)
    tumour: Tumour | None = None
    phase: str = "initial"
    treatments: tuple[PlannedTreatment, ...] = ()
    follow_up: tuple[PlannedTreatment, ...] = ()  # kind from JDV_TypeDeSuivi_CISIS
    supportive_care: tuple[SupportCare, ...] = ()  # JDV_SoinsOncoDeSupport_CISIS
    social_support: tuple[SupportCare, ...] = ()  # JDV_TypeAccompagnementSocioPro_CISIS
    handed_to_patient: date | None = None  # GEN-178
    update_motive: Code | None = None  # JDV_MotifMiseAJour_CISIS, for a revised PPS
    referring_gp: Professional | None = None
    care_team: tuple[Professional, ...] = ()
    contact_name: str = ""  # who to call
    contact_phone: str = ""
    comment: str = ""
    confidentiality: str = "N"
    document_status: Code | None = None
    # Added for the CDA body (all optional):
    screening: bool | None = None  # cancer found by screening (63921-1); None = unknown
    discovery_mode: str = ""  # free text
    relapse_date: date | None = None  # date of the relapse when phase == "relapse"


def missing_fields_frcp(c: FrcpContent) -> list[str]:
    """French labels of the fields a Fiche RCP cannot be generated without."""
    missing: list[str] = []
    if c.tumour is None:
        missing.append("localisation tumorale (CIM-10)")
    if c.case_status == "discussed" and c.board.kind == "organ":
        if c.tumour is None or (c.tumour.tnm is None and c.tumour.tnm_applicable):
            missing.append("classification TNM")
    if c.case_status == "registered" and c.referential is None:
        missing.append("référentiel (nom, version, date) d'un dossier enregistré")
    if c.board.kind == "organ" and c.board.appareil is None:
        missing.append("appareil de la RCP")
    if c.board.kind == "transversal" and c.board.transversal is None:
        missing.append("type de RCP transversale")
    if not c.quorum_members:
        missing.append("participants au quorum")
    return missing


def missing_fields_pps(c: PpsContent) -> list[str]:
    missing: list[str] = []
    if c.tumour is None:
        missing.append("localisation tumorale (CIM-10)")
    if c.rcp_date is None:
        missing.append("date de la RCP")
    if not c.treatments:
        missing.append("au moins un traitement programmé")
    if not c.frcp_unique_id:
        missing.append("identifiant de la Fiche RCP de référence")
    if c.ids.version > 1 and c.update_motive is None:
        missing.append("motif de mise à jour du PPS")
    return missing
