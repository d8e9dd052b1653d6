"""Realistic FRCP / PPS contents (test identities only) for the `dcc bench` documents benchmark and the tests.

All codes come from the ANS value sets copied into the package; identities use the test INS OID
(1.2.250.1.213.1.4.10) and fictitious RPPS / FINESS numbers.

    frcp = sample_frcp()                                  # organ board, discussed case
    frcp = sample_frcp("transversal", quorum="not_met")   # variant + field overrides
    pps = sample_pps("revised")
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from dcc import valuesets
from dcc.domain.documents import (
    TNM,
    Address,
    Board,
    DocumentIds,
    FrcpContent,
    Organization,
    PastTreatment,
    Patient,
    PlannedTreatment,
    PpsContent,
    Professional,
    Referential,
    Signature,
    SupportCare,
    Tumour,
)
from dcc.domain.identifiers import mailbox_part

FRCP_VARIANTS = (
    "organ_discussed",
    "registered",
    "transversal",
    "quorum_not_met",
    "recours",
    "pediatric",
    "relapse",
    "trial",
)
PPS_VARIANTS = ("standard", "supportive", "social", "follow_up", "revised")


def code(value_set: str, value: str):  # noqa: ANN201 - returns dcc.domain.documents.Code
    return valuesets.lookup(value_set, value)


CHU = Organization(
    id_nat="1490000031",
    name="CHU d'Angers",
    address=Address("4 rue Larrey", "49933", "ANGERS"),
    telecom="tel:0241353637",
    practice_setting=code("JDV_J04_XdsPracticeSettingCode_CISIS", "ETABLISSEMENT"),
)
CABINET = Organization(
    id_nat="",
    name="Cabinet médical du Dr Magne",
    address=Address("3 rue Petit Pont", "49100", "ANGERS"),
    practice_setting=code("JDV_J04_XdsPracticeSettingCode_CISIS", "AMBULATOIRE"),
)
CUSTODIAN = Organization(
    id_nat="1490000031",
    name="CHU d'Angers",
    address=Address("4 rue Larrey", "49933", "ANGERS"),
    telecom="tel:0241353637",
)


def professional(
    rpps: str,
    family: str,
    given: str,
    specialty: str = "G15_10/SM36",
    *,
    org: Organization = CHU,
    prefix: str = "",
) -> Professional:
    return Professional(
        id_nat="8" + rpps,
        family=family,
        given=given,
        specialty=code("JDV_J01_XdsAuthorSpecialty_CISIS", specialty),
        organization=org,
        prefix=prefix,
        telecom="tel:0241353600",
        mssante=f"{mailbox_part(given)}.{mailbox_part(family)}@chu-angers.mssante.fr",
    )


ONCOLOGUE = professional("10001234567", "MULLER", "Charles", "G15_10/SM36", prefix="M")
RADIOTHERAPEUTE = professional("10001234568", "PRENT", "Julie", "G15_10/SM45", prefix="MME")
CHIRURGIEN = professional("10001234569", "DECOURT", "Guillaume", "G15_10/SM05", prefix="M")
RADIOLOGUE = professional("10001234570", "MANON", "Cécile", "G15_10/SM44", prefix="MME")
PATHOLOGISTE = professional("10001234571", "LEGRAND", "Philippe", "G15_10/SM01", prefix="M")
GENERALISTE = professional("10001234572", "MAGNE", "Gilbert", "G15_10/SM26", org=CABINET, prefix="M")
PEDIATRE = professional("10001234573", "ROUSSEAU", "Jacques", "G15_10/SM40", prefix="M")

PATIENT = Patient(
    ins_matricule="279035121518989",
    ins_oid="1.2.250.1.213.1.4.10",
    ins_qualified=True,
    birth_family="PAT-TROIS",
    birth_given_first="DOMINIQUE",
    birth_given_all="DOMINIQUE MARIE-LOUISE",
    birth_date=date(1979, 3, 28),
    sex="F",
    birthplace_insee="51215",
    birthplace_city="DOMPREMY",
    used_family="PAT-TROIS",
    used_given="DOMINIQUE",
    ipp="1234567890121",
    ipp_oid="1.2.250.1.213.1.1.9.990.1",
    address=Address("28 avenue de Breteuil", "75007", "PARIS"),
)
CHILD = replace(
    PATIENT,
    ins_matricule="112054912345678",
    birth_family="PETIT",
    birth_given_first="LUCAS",
    birth_given_all="LUCAS PIERRE",
    used_family="PETIT",
    used_given="LUCAS",
    birth_date=date(2012, 5, 4),
    sex="M",
    birthplace_insee="49007",
    birthplace_city="ANGERS",
    ipp="99887766",
)

BREAST_BOARD = Board(
    dsrc_id="5201",
    dsrc_name="ONCO PAYS DE LA LOIRE",
    gestionnaire_id="520114",
    gestionnaire_name="3C CHU Angers",
    rcp_id="27011113",
    rcp_name="Sein",
    kind="organ",
    appareil=code("JDV_RCP_Appareil_CISIS", "76752008"),
    organe=code("JDV_RCP_Organe_CISIS", "76752008"),
    facility=CHU,
    facility_type=code("JDV_J02_XdsHealthcareFacilityTypeCode_CISIS", "SA01"),
)
SUPPORT_BOARD = replace(
    BREAST_BOARD,
    rcp_id="27011120",
    rcp_name="Soins de support",
    kind="transversal",
    appareil=None,
    organe=None,
    transversal=code("JDV_TraitementSoins_FRCP_CISIS", "C15747"),
)
PEDIATRIC_BOARD = replace(
    BREAST_BOARD,
    rcp_id="27011130",
    rcp_name="Oncopédiatrie",
    pediatric=True,
    appareil=code("JDV_RCP_Appareil_CISIS", "25087005"),
    organe=None,
)

BREAST = Tumour(
    topography=code("JDV_Tumeur_CISIS", "C50.2"),
    morphology=code("JDV_Morphologie_CISIS", "8500/3"),
    tnm=TNM("cT2", "cN1", "cM0", edition=8, stage="IIB"),
    laterality="Droite",
    laterality_code=code("JDV_ModificateurTopographique_CISIS", "24028007"),
    diagnosis_date=date(2024, 1, 29),
)

SESSION = datetime(2024, 2, 18, 17, 0, tzinfo=UTC)
CREATED = datetime(2024, 2, 18, 18, 30, tzinfo=UTC)


def _ids(n: int, kind: str, version: int = 1, replaces: str | None = None) -> DocumentIds:
    base = f"1.2.250.1.213.1.1.9.990.{2 if kind == 'FRCP' else 3}.{n}"
    return DocumentIds(
        unique_id_root=f"{base}.{version}", set_id_root=base, version=version, replaces_unique_id=replaces
    )


def base_frcp() -> FrcpContent:
    return FrcpContent(
        ids=_ids(1, "FRCP"),
        created_at=CREATED,
        patient=PATIENT,
        author=ONCOLOGUE,
        legal=Signature(ONCOLOGUE, CREATED),
        custodian=CUSTODIAN,
        board=BREAST_BOARD,
        session_date=SESSION,
        session_id="234567890",
        registration_number="INSC-2024-0042",
        coordinator=ONCOLOGUE,
        requester=CHIRURGIEN,
        presenter=RADIOTHERAPEUTE,
        quorum_members=(ONCOLOGUE, CHIRURGIEN, RADIOTHERAPEUTE),
        other_participants=(RADIOLOGUE,),
        referring_gp=GENERALISTE,
        correspondents=(PATHOLOGISTE,),
        tumour=BREAST,
        motive="Proposition thérapeutique après chirurgie",
        discovery_mode="Dépistage organisé du cancer du sein",
        screening=True,
        case_status="discussed",
        quorum="met",
        phase="initial",
        performance_status=0,
        past_treatments=(
            PastTreatment(
                code("JDV_TypeTraitement_FRCP_CISIS", "387713003"),
                date(2024, 2, 1),
                date(2024, 2, 1),
                "Tumorectomie avec ganglion sentinelle",
            ),
        ),
        case_summary="Patiente de 44 ans, carcinome canalaire infiltrant du sein droit, pT2 pN1, RH+ HER2-.",
        question="Quel traitement adjuvant ?",
        proposal_treatments=(
            code("JDV_TypeTraitement_FRCP_CISIS", "C15632"),
            code("JDV_TypeTraitement_FRCP_CISIS", "C15313"),
            code("JDV_TypeTraitement_FRCP_CISIS", "C547"),
        ),
        proposal_text="Chimiothérapie adjuvante puis radiothérapie et hormonothérapie.",
        conform_to_referential=True,
        referential=Referential("Référentiel régional sein", "2023", date(2023, 6, 1)),
        trial_proposed=False,
    )


def sample_frcp(variant: str = "organ_discussed", **overrides: Any) -> FrcpContent:
    """A FRCP content for one of FRCP_VARIANTS, with optional field overrides."""
    c = base_frcp()
    if variant == "registered":
        c = replace(
            c,
            case_status="registered",
            tumour=replace(BREAST, tnm=None),
            question="",
            motive="Enregistrement d'un dossier standard",
        )
    elif variant == "transversal":
        c = replace(
            c,
            board=SUPPORT_BOARD,
            tumour=replace(BREAST, tnm=None),
            performance_status=2,
            proposal_treatments=(code("JDV_TypeTraitement_FRCP_CISIS", "C15747"),),
            proposal_text="Prise en charge de la douleur et soutien nutritionnel.",
            referential=None,
            conform_to_referential=None,
        )
    elif variant == "quorum_not_met":
        c = replace(
            c,
            quorum="not_met",
            quorum_members=(ONCOLOGUE,),
            other_participants=(),
            comment="Quorum non atteint : avis à confirmer lors de la prochaine séance.",
        )
    elif variant == "recours":
        c = replace(
            c,
            board=replace(BREAST_BOARD, recours=True),
            refer_to_recours=True,
            diagnostic_opinion=True,
            referring_gp=None,
            file_complete=False,
        )
    elif variant == "pediatric":
        c = replace(
            c,
            board=PEDIATRIC_BOARD,
            patient=CHILD,
            performance_status=None,
            tumour=Tumour(
                code("JDV_Tumeur_CISIS", "C71.6"),
                code("JDV_Morphologie_CISIS", "9470/3"),
                None,  # medulloblastoma: no UICC TNM for primary CNS tumours
                tnm_applicable=False,
                diagnosis_date=date(2024, 1, 20),
            ),
            past_treatments=(),
            proposal_treatments=(code("JDV_TypeTraitement_FRCP_CISIS", "C15632"),),
        )
    elif variant == "relapse":
        c = replace(
            c,
            phase="relapse",
            relapse_date=date(2024, 1, 10),
            progression=(False, True, True),
            tumour=replace(BREAST, tnm=TNM("cT2", "cN2", "cM1", edition=8, stage="IV")),
            performance_status=1,
            proposal_treatments=(code("JDV_TypeTraitement_FRCP_CISIS", "C93352"),),
            conform_to_referential=False,
            departure_justification="Contre-indication aux anthracyclines.",
        )
    elif variant == "trial":
        c = replace(c, trial_proposed=True, trial_name="ESSAI-SEIN-2024")
    elif variant != "organ_discussed":
        raise ValueError(f"unknown FRCP variant {variant}")
    return replace(c, **overrides) if overrides else c


def base_pps() -> PpsContent:
    return PpsContent(
        ids=_ids(1, "PPS"),
        created_at=CREATED,
        patient=PATIENT,
        author=ONCOLOGUE,
        legal=Signature(ONCOLOGUE, CREATED),
        custodian=CUSTODIAN,
        board=BREAST_BOARD,
        rcp_date=SESSION.date(),
        frcp_unique_id="1.2.250.1.213.1.1.9.990.2.1.1",
        tumour=BREAST,
        treatments=(
            PlannedTreatment(
                code("JDV_TypeTraitementPPS_CISIS", "C15632"),
                date(2024, 3, 1),
                date(2024, 6, 1),
                "Chimiothérapie en hôpital de jour, une séance toutes les trois semaines",
                "CHU d'Angers, hôpital de jour",
            ),
            PlannedTreatment(
                code("JDV_TypeTraitementPPS_CISIS", "C15313"),
                date(2024, 7, 1),
                date(2024, 8, 15),
                "Radiothérapie du sein droit",
                "Institut de cancérologie de l'Ouest",
            ),
        ),
        handed_to_patient=date(2024, 2, 25),
        referring_gp=GENERALISTE,
        care_team=(RADIOTHERAPEUTE,),
        contact_name="Infirmière de coordination",
        contact_phone="02 41 35 36 00",
        screening=True,
        discovery_mode="Dépistage organisé",
    )


def sample_pps(variant: str = "standard", **overrides: Any) -> PpsContent:
    """A PPS content for one of PPS_VARIANTS, with optional field overrides."""
    c = base_pps()
    support = (
        SupportCare(code("JDV_SoinsOncoDeSupport_CISIS", "ORG-035"), "Consultation douleur"),
        SupportCare(code("JDV_SoinsOncoDeSupport_CISIS", "ORG-036"), "Suivi diététique"),
    )
    social = (SupportCare(code("JDV_TypeAccompagnementSocioPro_CISIS", "PAT-024"), "Aide ménagère"),)
    follow_up = (
        PlannedTreatment(
            code("JDV_TypeDeSuivi_CISIS", "11429006"), date(2024, 9, 1), None, "Consultation de suivi"
        ),
        PlannedTreatment(
            code("JDV_TypeDeSuivi_CISIS", "MED-092"), date(2025, 2, 1), None, "Mammographie annuelle"
        ),
    )
    if variant == "supportive":
        c = replace(c, supportive_care=support)
    elif variant == "social":
        c = replace(c, social_support=social)
    elif variant == "follow_up":
        c = replace(
            c,
            follow_up=follow_up,
            treatments=c.treatments[:1]
            + (
                PlannedTreatment(
                    code("JDV_TypeTraitementPPS_CISIS", "C15445"),
                    date(2024, 9, 1),
                    None,
                    "Hormonothérapie orale pendant 5 ans",
                ),
            ),
        )
    elif variant == "revised":
        c = replace(
            c,
            ids=_ids(1, "PPS", version=2, replaces="1.2.250.1.213.1.1.9.990.3.1.1"),
            update_motive=code("JDV_MotifMiseAJour_CISIS", "MED-560"),
            supportive_care=support,
            social_support=social,
            follow_up=follow_up,
            comment="Report de la radiothérapie.",
            handed_to_patient=None,
        )
    elif variant != "standard":
        raise ValueError(f"unknown PPS variant {variant}")
    return replace(c, **overrides) if overrides else c
