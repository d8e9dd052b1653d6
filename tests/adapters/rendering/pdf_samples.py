"""Small fixed FRCP / PPS contents for the rendering and signing tests (independent of dcc.bench.samples)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

from dcc.domain.documents import (
    TNM,
    Address,
    Board,
    Code,
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

PARIS = timezone(timedelta(hours=1))
SPEC = "1.2.250.1.213.1.1.4.5"
TTT = "1.2.250.1.213.1.1.5.1"

CHU = Organization(id_nat="1490000013", name="CHU d'Angers",
                   address=Address("4 rue Larrey", "49100", "Angers"), telecom="tel:0241353637")


def prof(id_nat: str, family: str, given: str, specialty: str = "Oncologie médicale") -> Professional:
    return Professional(id_nat=id_nat, family=family, given=given,
                        specialty=Code("SM00", SPEC, specialty), organization=CHU, telecom="tel:0241000000")


ONCO = prof("810000000001", "Martin", "Claire")
CHIR = prof("810000000002", "Bernard", "Luc", "Chirurgie viscérale et digestive")
RADIO = prof("810000000003", "Petit", "Anne", "Radiothérapie")
GP = prof("810000000004", "Durand", "Paul", "Médecine générale")

PATIENT = Patient(
    ins_matricule="284127512345643", ins_oid="1.2.250.1.213.1.4.10", ins_qualified=True,
    birth_family="Lefèvre", birth_given_first="Marie", birth_given_all="Marie Hélène",
    birth_date=date(1984, 12, 3), sex="F", birthplace_insee="75112", birthplace_city="Paris 12e",
    used_family="Dubois", ipp="IPP000123", ipp_oid="1.2.3.4",
)

BOARD = Board(
    dsrc_id="DSRC01", dsrc_name="ONCO Pays de la Loire", gestionnaire_id="G01", gestionnaire_name="3C Angers",
    rcp_id="RCP0042", rcp_name="RCP digestive du CHU d'Angers", kind="organ",
    appareil=Code("DIG", "1.2.250.1.213.1.1.5.600", "Appareil digestif"), facility=CHU,
)

SIGNED_AT = datetime(2026, 11, 25, 14, 3, tzinfo=PARIS)


def frcp(**changes: object) -> FrcpContent:
    base = FrcpContent(
        ids=DocumentIds(unique_id_root="1.2.250.1.999.1.1", set_id_root="1.2.250.1.999.1.2"),
        created_at=datetime(2026, 11, 25, 12, 0, tzinfo=PARIS), patient=PATIENT, author=ONCO,
        legal=Signature(signer=ONCO, signed_at=SIGNED_AT), custodian=CHU, board=BOARD,
        session_date=datetime(2026, 11, 24, 17, 30, tzinfo=PARIS), session_id="S-2026-47",
        registration_number="R-12", coordinator=ONCO, requester=CHIR, presenter=CHIR,
        quorum_members=(ONCO, CHIR, RADIO), referring_gp=GP, correspondents=(RADIO,),
        tumour=Tumour(topography=Code("C18.7", "2.16.840.1.113883.6.3", "Tumeur maligne du côlon sigmoïde"),
                      morphology=Code("8140/3", "2.16.840.1.113883.6.43.1", "Adénocarcinome SAI"),
                      tnm=TNM("pT3", "pN1", "cM0", edition=8, stage="IIIB"), diagnosis_date=date(2026, 10, 2)),
        motive="Décision thérapeutique après chirurgie.", discovery_mode="Dépistage organisé",
        performance_status=1,
        past_treatments=(PastTreatment(kind=Code("CHIR", TTT, "Chirurgie"), start=date(2026, 10, 30),
                                       text="Sigmoïdectomie par cœlioscopie."),),
        case_summary="Patiente de 41 ans.\nAdénocarcinome du sigmoïde pT3N1M0, marges saines.",
        question="Indication d'une chimiothérapie adjuvante ?",
        proposal_treatments=(Code("CHIMIO", TTT, "Chimiothérapie"),),
        proposal_text="Chimiothérapie adjuvante FOLFOX, 6 mois.",
        referential=Referential("Thésaurus national de cancérologie digestive", "2025", date(2025, 3, 1)),
        conform_to_referential=True,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def pps(**changes: object) -> PpsContent:
    base = PpsContent(
        ids=DocumentIds(unique_id_root="1.2.250.1.999.2.1", set_id_root="1.2.250.1.999.2.2"),
        created_at=datetime(2026, 11, 25, 12, 30, tzinfo=PARIS), patient=PATIENT, author=ONCO,
        legal=Signature(signer=ONCO, signed_at=SIGNED_AT), custodian=CHU, board=BOARD,
        rcp_date=date(2026, 11, 24), frcp_unique_id="1.2.250.1.999.1.1",
        treatments=(
            PlannedTreatment(kind=Code("CHIMIO", TTT, "Chimiothérapie"), start=date(2026, 12, 7),
                             end=date(2027, 5, 31), place="Hôpital de jour, CHU d'Angers",
                             text="Une séance toutes les deux semaines, 12 séances."),
        ),
        follow_up=(PlannedTreatment(kind=Code("SUIVI", TTT, "Scanner de contrôle"), start=date(2027, 6, 15),
                                    place="Imagerie, CHU d'Angers"),),
        supportive_care=(
            SupportCare(kind=Code("DIET", TTT, "Diététique"), text="Consultation avant la 1re cure."),
        ),
        social_support=(SupportCare(kind=Code("AS", TTT, "Assistante sociale")),),
        referring_gp=GP, care_team=(ONCO, RADIO),
        contact_name="Infirmière de coordination, Mme Roux", contact_phone="0241353000",
        handed_to_patient=date(2026, 11, 26),
    )
    return replace(base, **changes)  # type: ignore[arg-type]
