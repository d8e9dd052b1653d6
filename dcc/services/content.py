"""Assemble the document content (dcc.domain.documents) of a case from the database."""

from __future__ import annotations

import uuid
from datetime import datetime

from dcc import valuesets
from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.domain import documents as d
from dcc.domain import tumour as tumour_rules
from dcc.domain.clock import paris_day
from dcc.domain.identifiers import ps_id_nat, struct_id_nat
from dcc.services import codes
from dcc.services.uow import UnitOfWork

# FRCP treatment kind -> PPS treatment kind where the two CI-SIS value sets use different codes
FRCP_TO_PPS_KIND = {"C547": "C15445", "GEN-092.03.02": "GEN-092.03.01"}
STATUS_APPROVED = "9571008"


def new_oid() -> str:
    """A globally unique OID derived from a random UUID (ISO/IEC 9834-8, arc 2.25)."""
    return f"2.25.{uuid.uuid4().int}"


def _org(est: m.Establishment) -> d.Organization:
    return d.Organization(
        id_nat=struct_id_nat(est.finess), name=est.name,
        address=d.Address(street=est.street, postal_code=est.postal_code, city=est.city),
        telecom=est.telecom,
        practice_setting=valuesets.lookup("JDV_J04_XdsPracticeSettingCode_CISIS", "ETABLISSEMENT"),
    )


class Loader:
    """Caches directory rows while assembling several documents in one unit of work."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self._est: dict[str, m.Establishment] = {}
        self._prof: dict[str, d.Professional] = {}
        self._codes: dict[tuple[str, str], d.Code] = {}

    def code(self, system: str, code: str, *, field: str = "code") -> d.Code:
        """A code the users entered (tumour, treatments, plan entries), with its label from the referential
        in the database (a code retired since keeps its label: the document says what was entered)."""
        key = (system, code)
        if key not in self._codes:
            self._codes[key] = codes.concept(self.uow, system, code, field=field)
        return self._codes[key]

    def establishment(self, id_: str) -> m.Establishment:
        if id_ not in self._est:
            est = self.uow.session.get(m.Establishment, id_)
            assert est is not None
            self._est[id_] = est
        return self._est[id_]

    def professional(self, id_: str) -> d.Professional:
        if id_ not in self._prof:
            p = self.uow.session.get(m.Professional, id_)
            assert p is not None
            self._prof[id_] = d.Professional(
                id_nat=ps_id_nat(p.rpps), family=p.family, given=p.given, prefix=p.prefix,
                specialty=valuesets.lookup("JDV_J01_XdsAuthorSpecialty_CISIS", p.specialty_code),
                organization=_org(self.establishment(p.establishment_id)), telecom=p.telecom, mssante=p.mssante,
            )
        return self._prof[id_]

    def patient(self, patient: m.Patient, est: m.Establishment) -> d.Patient:
        ipp = repo.ipp_of(self.uow.session, patient.id, est.id)
        return d.Patient(
            ins_matricule=patient.ins_matricule or "", ins_oid=patient.ins_oid or "",
            ins_qualified=patient.ins_qualified and bool(patient.ins_matricule),  # no INS: never qualified
            birth_family=patient.birth_family, birth_given_first=patient.birth_given_first,
            birth_given_all=patient.birth_given_all, birth_date=patient.birth_date, sex=patient.sex,
            birthplace_insee=patient.birthplace_insee, birthplace_city=patient.birthplace_city,
            used_family=patient.used_family, used_given=patient.used_given,
            ipp=ipp.ipp if ipp else "", ipp_oid=est.ipp_oid if ipp else "",
            address=d.Address(street=patient.street, postal_code=patient.postal_code, city=patient.city),
        )

    def board(self, board: m.Board) -> d.Board:
        est = self.establishment(board.establishment_id)
        region = self.uow.session.get(m.Region, est.region_id)
        assert region is not None
        return d.Board(
            dsrc_id=region.dsrc_id, dsrc_name=region.dsrc_name, gestionnaire_id=est.gestionnaire_id,
            gestionnaire_name=est.gestionnaire_name, rcp_id=board.rcp_id, rcp_name=board.name, kind=board.kind,
            appareil=valuesets.lookup("JDV_RCP_Appareil_CISIS", board.appareil_code) if board.appareil_code else None,
            organe=valuesets.lookup("JDV_RCP_Organe_CISIS", board.organe_code) if board.organe_code else None,
            transversal=valuesets.lookup("JDV_TraitementSoins_FRCP_CISIS", board.transversal_code)
            if board.transversal_code else None,
            recours=board.recours, pediatric=board.pediatric, facility=_org(est),
            facility_type=valuesets.lookup("JDV_J02_XdsHealthcareFacilityTypeCode_CISIS", "SA01"),
        )


def _tumour(loader: Loader, case: m.Case, organ_group: str | None = None) -> d.Tumour:
    """The tumour as entered. TNM only where UICC classifies the tumour (`tumour_rules.tnm_applies`)."""
    applicable = tumour_rules.tnm_applies(case.topography_code, organ_group)
    tnm = None
    if applicable and case.tnm_t and case.tnm_n and case.tnm_m:
        tnm = d.TNM(t=case.tnm_t, n=case.tnm_n, m=case.tnm_m, edition=case.tnm_edition, stage=case.tnm_stage or "")
    lat = case.laterality
    lat_code = tumour_rules.LATERALITY_CODES.get(lat) if lat else None
    return d.Tumour(
        topography=loader.code("JDV_Tumeur_CISIS", case.topography_code, field="topography_code"),
        morphology=loader.code("JDV_Morphologie_CISIS", case.morphology_code, field="morphology_code")
        if case.morphology_code else None,
        tnm=tnm, tnm_applicable=applicable, diagnosis_date=case.diagnosis_date,
        laterality=tumour_rules.LATERALITY_LABELS.get(lat, "") if lat else "",
        laterality_code=valuesets.lookup("JDV_ModificateurTopographique_CISIS", lat_code) if lat_code else None,
    )


def frcp_content(loader: Loader, case: m.Case, decision: m.Decision, *, ids: d.DocumentIds,
                 now: datetime) -> d.FrcpContent:
    uow = loader.uow
    board = uow.session.get(m.Board, case.board_id)
    session = uow.session.get(m.Session, decision.session_id)
    patient = uow.session.get(m.Patient, case.patient_id)
    assert board and session and patient
    est = loader.establishment(board.establishment_id)
    responsible = loader.professional(board.responsible_id)
    present = [a.professional_id for a in repo.attendance(uow.session, session.id) if a.mode != "absent"]
    quorum_members = tuple(loader.professional(pid) for pid in present if pid != board.coordinator_id)
    referential = None
    if case.referential_name and case.referential_version and case.referential_date:
        referential = d.Referential(case.referential_name, case.referential_version, case.referential_date)
    return d.FrcpContent(
        ids=ids, created_at=now, patient=loader.patient(patient, est), author=responsible,
        legal=d.Signature(signer=responsible, signed_at=now), custodian=_org(est), board=loader.board(board),
        session_date=session.starts_at, session_id=session.id, registration_number=case.registration_number
        or case.id[:8].upper(), coordinator=loader.professional(board.coordinator_id),
        requester=loader.professional(case.requester_id), presenter=loader.professional(case.presenter_id),
        quorum_members=quorum_members,
        referring_gp=loader.professional(patient.referring_gp_id) if patient.referring_gp_id else None,
        tumour=_tumour(loader, case, board.organe_code or board.appareil_code), motive=case.motive,
        discovery_mode=case.discovery_mode,
        case_status=decision.case_status, referential=referential, quorum=decision.quorum, phase=case.phase,
        performance_status=case.performance_status, case_summary=case.summary, question=case.question,
        proposal_treatments=tuple(loader.code("JDV_TypeTraitement_FRCP_CISIS", c)
                                  for c in decision.proposal_codes),
        proposal_text=decision.proposal_text,
        proposal_entries=tuple(d.ProposedEntry(kind=e["kind"], code=d.Code(code=e["code"], system=e["code_system"],
                                                                            display=e["label"]),
                                               referential=e["system"], version=e["version"])
                               for e in (decision.proposal_entries or [])),
        conform_to_referential=decision.conform_to_referential,
        departure_justification=decision.departure_justification, trial_proposed=decision.trial_proposed,
        trial_name=decision.trial_name, comment=decision.comment,
        document_status=valuesets.lookup("JDV_StatutDoc_CISIS", STATUS_APPROVED),
    )


def pps_treatment_codes(frcp_codes: list[str]) -> list[str]:
    """The PPS treatment kinds (JDV_TypeTraitementPPS_CISIS) a decision's FRCP treatment kinds
    (JDV_TypeTraitement_FRCP_CISIS) stand for: the two value sets share their codes but for hormone therapy
    (C547 -> C15445) and "other specific drug treatments" (-> "other treatments"); supportive and palliative
    care have no PPS treatment kind (they are supportive care items of the plan)."""
    out = []
    for code in frcp_codes:
        mapped = FRCP_TO_PPS_KIND.get(code, code)
        if valuesets.contains("JDV_TypeTraitementPPS_CISIS", mapped) and mapped not in out:
            out.append(mapped)
    return out




def _plan_item(loader: Loader, item: m.PpsItem, value_set: str) -> d.PlannedTreatment:
    return d.PlannedTreatment(
        kind=loader.code(value_set, item.code), start=item.start, end=item.end, text=item.text,
        place=item.place, responsible=loader.professional(item.responsible_id) if item.responsible_id else None)


def pps_content(loader: Loader, case: m.Case, decision: m.Decision, *, ids: d.DocumentIds, now: datetime,
                frcp_unique_id: str, plan: m.PpsPlan, items: list[m.PpsItem],
                update_motive: str | None = None) -> d.PpsContent:
    """The PPS exactly as the care team authored it (dcc.services.pps): its items, contact and hand-over
    date; nothing is added. Absent optional data stays absent (nullFlavor in the CDA, "non renseigné" in
    the PDF)."""
    uow = loader.uow
    board = uow.session.get(m.Board, case.board_id)
    session = uow.session.get(m.Session, decision.session_id)
    patient = uow.session.get(m.Patient, case.patient_id)
    assert board and session and patient
    est = loader.establishment(board.establishment_id)
    responsible = loader.professional(board.responsible_id)
    ordered = sorted(items, key=lambda i: (i.position, i.id))
    by = {cat: [i for i in ordered if i.category == cat] for cat in ("treatment", "follow_up", "supportive", "social")}
    treatments = tuple(_plan_item(loader, i, "JDV_TypeTraitementPPS_CISIS") for i in by["treatment"])
    follow_up = tuple(_plan_item(loader, i, "JDV_TypeDeSuivi_CISIS") for i in by["follow_up"])
    supportive = tuple(d.SupportCare(loader.code("JDV_SoinsOncoDeSupport_CISIS", i.code), i.text)
                       for i in by["supportive"])
    social = tuple(d.SupportCare(loader.code("JDV_TypeAccompagnementSocioPro_CISIS", i.code), i.text)
                   for i in by["social"])
    # the care team: the professionals the plan names as responsible for an item, and the referent
    team_ids = list(dict.fromkeys([i.responsible_id for i in ordered if i.responsible_id] + [plan.referent_id]))
    return d.PpsContent(
        ids=ids, created_at=now, patient=loader.patient(patient, est), author=responsible,
        legal=d.Signature(signer=responsible, signed_at=now), custodian=_org(est), board=loader.board(board),
        rcp_date=paris_day(session.starts_at), frcp_unique_id=frcp_unique_id, tumour=_tumour(loader, case),
        phase=case.phase, treatments=treatments, follow_up=follow_up, supportive_care=supportive,
        social_support=social, handed_to_patient=plan.handed_at,
        update_motive=loader.code("JDV_MotifMiseAJour_CISIS", update_motive) if update_motive else None,
        referring_gp=loader.professional(patient.referring_gp_id) if patient.referring_gp_id else None,
        care_team=tuple(loader.professional(pid) for pid in team_ids),
        contact_name=plan.contact_name, contact_phone=plan.contact_phone,
        document_status=valuesets.lookup("JDV_StatutDoc_CISIS", STATUS_APPROVED),
    )
