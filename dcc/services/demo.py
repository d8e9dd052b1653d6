"""Synthetic clinical activity for the demo: one case per patient, and what happens at the meeting."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.demo import data
from dcc.domain import tumour as tumour_rules
from dcc.domain.clock import now_utc, paris_day
from dcc.services import boards as board_services
from dcc.services import identity
from dcc.services.schemas import AttendanceInput, CaseRegistration, DecisionInput, PatientIdentity
from dcc.services.uow import Database

# Proposals per organ board template (JDV_TypeTraitement_FRCP_CISIS codes), plausible for its tumours:
# hormone therapy only for hormone-dependent cancers (breast, prostate), no chemotherapy-free "surveillance
# active" outside prostate, radio-chemotherapy after surgery for gliomas and medulloblastomas.
ORGAN_PROPOSALS: dict[str, list[list[str]]] = {
    "Sein": [["387713003"], ["387713003", "C15313"], ["C15632", "387713003"], ["C15313", "C547"],
             ["C93352", "C547"], ["387713003", "C15632", "C15313"]],
    "Digestif": [["387713003"], ["C15632", "387713003"], ["387713003", "C15632"], ["C15632", "C93352"],
                 ["MED-226"]],
    "Thorax": [["387713003"], ["C15632", "C15313"], ["C15632", "C15262"], ["C93352"], ["C15262"],
               ["387713003", "C15632"]],
    "Urologie": [["387713003"], ["C15313", "C547"], ["MED-227"], ["C547"], ["C15195"]],
    "Recours régional neuro-oncologie": [["387713003", "C15313", "C15632"], ["C15313", "C15632"], ["MED-226"]],
    "Oncopédiatrie": [["387713003", "C15313", "C15632"], ["C15632"]],
}
TRANSVERSAL_PROPOSALS = [["C15747"], ["GEN-092.03.01"], ["C15252", "C15747"]]

# Synthetic proposal wording, per proposed treatment (what the demo's physicians "type"): a decision's text
# is assembled from the phrases of its own codes, so it says what was proposed and varies between cases.
PROPOSAL_PHRASES: dict[str, list[str]] = {
    "387713003": ["Exérèse chirurgicale première de la lésion.", "Chirurgie d'exérèse après consultation "
                  "d'anesthésie.", "Résection chirurgicale à visée curative, avec curage selon l'extension."],
    "C15313": ["Radiothérapie de la loge tumorale.", "Irradiation externe en fractionnement classique.",
               "Radiothérapie conformationnelle, schéma à définir par le radiothérapeute."],
    "C15632": ["Chimiothérapie, protocole à définir en consultation d'oncologie.",
               "Chimiothérapie néoadjuvante puis réévaluation.", "Chimiothérapie adjuvante (6 cycles envisagés)."],
    "C547": ["Hormonothérapie au long cours.", "Hormonothérapie adjuvante, durée à préciser selon la tolérance."],
    "C93352": ["Thérapie ciblée selon le profil moléculaire.", "Thérapie ciblée orale, après bilan cardiaque."],
    "C15262": ["Immunothérapie, bilan thyroïdien préalable.", "Immunothérapie en monothérapie."],
    "MED-227": ["Surveillance active avec imagerie de contrôle.", "Surveillance active, réévaluation en RCP si "
                "évolution."],
    "C15747": ["Soins de support : évaluation de la douleur et de l'état nutritionnel.",
               "Orientation vers l'équipe de soins de support."],
    "GEN-092.03.01": ["Prise en charge spécialisée hors traitement spécifique, à organiser avec le médecin "
                      "demandeur.", "Autre prise en charge : avis complémentaire à programmer."],
    "C15252": ["Soins palliatifs coordonnés avec le médecin traitant.", "Prise en charge palliative à domicile "
               "si possible."],
}
CLOSINGS = ["", " Proposition à présenter au patient en consultation d'annonce.",
            " Réévaluation en RCP à l'issue du traitement.", " À discuter avec le patient et sa famille."]


def proposal_text(rng: random.Random, codes: list[str], *, standard: bool) -> str:
    """Synthetic wording of one demo proposal: a phrase per proposed treatment, varied by `rng`."""
    phrases = [rng.choice(PROPOSAL_PHRASES[c]) if c in PROPOSAL_PHRASES else "Autre traitement proposé."
               for c in codes]
    opening = rng.choice(["Dossier conforme au référentiel : ", "Prise en charge standard : "]) if standard else ""
    return opening + " ".join(phrases) + rng.choice(CLOSINGS)


def _board_for(rng: random.Random, boards: list[m.Board], patient: m.Patient, today: date) -> m.Board:
    age = (today - patient.birth_date).days // 365
    paediatric = [b for b in boards if b.pediatric]
    if age < 18 and paediatric:
        return rng.choice(paediatric)
    adult = [b for b in boards if not b.pediatric]
    return rng.choice(adult)


def register_demo_cases(db: Database, *, patient_ids: list[str], seed: int, today: date) -> list[str]:
    """Register one case per patient on a board of the patient's age group (validated like any input). A
    patient whose case on that board still awaits its discussion (a later run of the demo on the same
    database) gets no second one: identity vigilance would refuse it."""
    rng = random.Random(f"cases-{seed}-{today.isoformat()}")
    case_ids: list[str] = []
    with db.uow() as uow:
        boards = repo.boards(uow.session)
        plans = []
        for pid in patient_ids:
            patient = uow.session.get(m.Patient, pid)
            assert patient is not None and patient.ins_oid is not None  # seeded with an INS
            board = _board_for(rng, boards, patient, today)
            if identity.open_case(uow, patient_id=pid, board_id=board.id) is not None:
                continue
            members = repo.board_members(uow.session, board.id)
            requester = rng.choice(members)
            tpl = next((t for t in data.BOARDS if f"RCP {t['name']}" == board.name), data.BOARDS[0])
            topography, morphology = rng.choice(tpl["tumours"])
            tnm = rng.choice(tpl["tnm"]) if tpl["tnm"] and tumour_rules.tnm_applicable(topography) else None
            relapse = rng.random() < 0.2
            diagnosed = min(today - timedelta(days=rng.randint(400, 1500) if relapse else rng.randint(10, 60)),
                            date.today())
            standard = board.kind == "organ" and not board.recours and rng.random() < 0.2
            ref = rng.choice(data.REFERENTIALS)
            plans.append(CaseRegistration(
                board_id=board.id,
                patient=PatientIdentity(
                    ins_matricule=patient.ins_matricule, ins_oid=patient.ins_oid,
                    ins_qualified=patient.ins_qualified, birth_family=patient.birth_family,
                    birth_given_first=patient.birth_given_first, birth_given_all=patient.birth_given_all,
                    birth_date=patient.birth_date, sex=patient.sex, birthplace_insee=patient.birthplace_insee,
                    birthplace_city=patient.birthplace_city, used_family=patient.used_family,
                    used_given=patient.used_given),
                requester_rpps=requester.rpps,
                topography_code=topography, morphology_code=morphology,
                tnm_t=tnm[0] if tnm else None, tnm_n=tnm[1] if tnm else None, tnm_m=tnm[2] if tnm else None,
                tnm_stage=tnm[3] if tnm else None, tnm_edition=8 if tnm else None,
                laterality=rng.choice(["droite", "gauche"]) if tumour_rules.is_paired(topography) else None,
                diagnosis_date=max(diagnosed, patient.birth_date),
                phase="relapse" if relapse else "initial", performance_status=rng.choice([0, 0, 1, 1, 2]),
                motive="Avis sur la prise en charge thérapeutique",
                question=rng.choice(data.QUESTIONS),
                summary="Patient(e) adressé(e) pour discussion du dossier après bilan d'extension complet.",
                discovery_mode=rng.choice(data.DISCOVERY_MODES), urgent=rng.random() < 0.15,
                earliest_date=today + timedelta(days=rng.randint(0, 3)), standard=standard,
                referential_name=ref[0] if standard else None, referential_version=ref[1] if standard else None,
                referential_date=date(2025, 6, 1) if standard else None,
            ))
    for plan in plans:
        with db.uow() as uow:
            case_ids.append(board_services.register_case(uow, data=plan, actor="demo"))
    return case_ids


@dataclass
class MeetingResult:
    sessions: int = 0
    quorum_met: int = 0
    quorum_not_met: int = 0
    decided_cases: list[str] = field(default_factory=list)
    represented: list[str] = field(default_factory=list)


def hold_meetings(db: Database, *, seed: int, today: date, quorum_failure_rate: float = 0.1,
                  now: datetime | None = None) -> MeetingResult:
    """Hold every session that has cases and has started at `now` (default: the real time): attendance
    (quorum), a decision per case, validation, each act at `now`. Later sessions stay planned.

    A session without quorum yields no Fiche RCP: its cases are re-presented at a later session (discussed
    there when that session is held here too, otherwise left assigned). The first session held always lacks
    its quorum when `quorum_failure_rate` > 0, so every demo shows the re-presentation."""
    now = now or now_utc()
    rng = random.Random(f"meeting-{seed}-{today.isoformat()}")
    out = MeetingResult()
    with db.uow() as uow:
        sessions = [s for s in repo.sessions_between(uow.session, board_id=None, start=None, end=None)
                    if s.status == "planned" and s.starts_at <= now and repo.cases_of_session(uow.session, s.id)]
        plan = []
        for i, s in enumerate(sessions):
            board = uow.session.get(m.Board, s.board_id)
            assert board is not None
            members = repo.board_members(uow.session, board.id)
            # the first meeting always lacks its quorum (when failures are asked for at all), so every demo
            # shows a re-presentation; the others fail at random
            fail = rng.random() < quorum_failure_rate or (i == 0 and quorum_failure_rate > 0)
            attendance = {}
            for p in members:
                if fail and p.specialty_code != data.MEDICAL_ONCOLOGIST:
                    attendance[p.id] = "absent"
                else:
                    attendance[p.id] = rng.choice(["present", "present", "remote"])
            agenda = repo.cases_of_session(uow.session, s.id)
            tpl_name = board.name.removeprefix("RCP ")
            proposals = (ORGAN_PROPOSALS.get(tpl_name, ORGAN_PROPOSALS["Digestif"]) if board.kind == "organ"
                         else TRANSVERSAL_PROPOSALS)
            plan.append((s.id, proposals, attendance, [(c.id, c.standard) for c in agenda]))
    for session_id, proposals, attendance, decided in plan:
        with db.uow() as uow:
            status = board_services.record_attendance(uow, session_id=session_id,
                                                      data=AttendanceInput(attendance=attendance), actor="demo",
                                                      now=now)
        out.sessions += 1
        if status == "met":
            out.quorum_met += 1
        else:
            out.quorum_not_met += 1
        with db.uow() as uow:  # re-read: re-presentations may have joined the agenda since it was planned
            decided = [(c.id, c.standard) for c in repo.cases_of_session(uow.session, session_id)]
        for case_id, standard in decided:
            codes = rng.choice(proposals)
            trial = rng.random() < 0.2
            conform = True if standard else rng.random() < 0.85
            decision = DecisionInput(
                session_id=session_id, case_status="registered" if standard else "discussed",
                proposal_codes=codes,
                proposal_text=proposal_text(rng, codes, standard=standard),
                conform_to_referential=conform,
                departure_justification="" if conform else "Comorbidités contre-indiquant le standard.",
                trial_proposed=trial, trial_name="Essai de phase III (exemple)" if trial else "",
            )
            with db.uow() as uow:
                board_services.record_decision(uow, case_id=case_id, data=decision, actor="demo", now=now)
        with db.uow() as uow:
            summary = board_services.validate_session(uow, session_id=session_id, today=today, actor="demo",
                                                      now=now)
        out.decided_cases.extend(summary.case_ids)
        out.represented.extend(summary.represented)
    return out


def session_date(db: Database, session_id: str) -> date:
    with db.uow() as uow:
        s = uow.session.get(m.Session, session_id)
        assert s is not None
        return paris_day(s.starts_at)


# ---------------------------------------------------------------------------------------- PPS authoring

# Synthetic but plausible planning per PPS treatment kind: (first day after the meeting, duration in days:
# None = open-ended, 0 = single day), the specialty that carries it out, places and wordings to draw from.
_PPS_KINDS: dict[str, dict[str, Any]] = {
    "387713003": {"delay": (10, 35), "days": [0], "specialty": None,
                  "places": ["Bloc opératoire", "Service de chirurgie ambulatoire", "Service de chirurgie"],
                  "texts": ["Hospitalisation la veille de l'intervention.", "Consultation d'anesthésie avant "
                            "l'intervention.", "Intervention en ambulatoire si possible.", ""]},
    "C15313": {"delay": (21, 60), "days": [25, 35, 42, 49], "specialty": data.RADIOTHERAPIST,
               "places": ["Service de radiothérapie", "Centre de radiothérapie"],
               "texts": ["Séances du lundi au vendredi.", "Scanner de repérage une semaine avant la première "
                         "séance.", ""]},
    "C15195": {"delay": (14, 40), "days": [0, 2], "specialty": data.RADIOTHERAPIST,
               "places": ["Service de curiethérapie"], "texts": ["Courte hospitalisation.", ""]},
    "C15632": {"delay": (7, 28), "days": [63, 84, 126, 168], "specialty": data.MEDICAL_ONCOLOGIST,
               "places": ["Hôpital de jour d'oncologie", "Hôpital de jour"],
               "texts": ["Une cure toutes les trois semaines.", "Pose d'une chambre implantable avant la "
                         "première cure.", "Cures hebdomadaires.", ""]},
    "C93352": {"delay": (7, 21), "days": [None, 180, 365], "specialty": data.MEDICAL_ONCOLOGIST,
               "places": ["Traitement oral à domicile", "Hôpital de jour d'oncologie"],
               "texts": ["Comprimés à prendre chaque jour.", "Bilan sanguin avant chaque renouvellement.", ""]},
    "C15445": {"delay": (14, 45), "days": [1825, 1095, None], "specialty": data.MEDICAL_ONCOLOGIST,
               "places": ["Traitement oral à domicile"],
               "texts": ["Un comprimé par jour.", "Ordonnance renouvelée par votre médecin traitant.", ""]},
    "C15262": {"delay": (7, 28), "days": [365, 180, None], "specialty": data.MEDICAL_ONCOLOGIST,
               "places": ["Hôpital de jour d'oncologie"],
               "texts": ["Une perfusion toutes les trois semaines.", "Une perfusion toutes les quatre semaines.", ""]},
    "MED-227": {"delay": (60, 120), "days": [None], "specialty": None, "places": ["Consultation"],
                "texts": ["Surveillance rapprochée, sans traitement pour le moment.", ""]},
    "MED-226": {"delay": (60, 120), "days": [None], "specialty": None, "places": ["Consultation"],
                "texts": ["Surveillance, sans traitement.", ""]},
    "GEN-092.03.01": {"delay": (7, 30), "days": [None, 30], "specialty": None, "places": [""],
                      "texts": ["Modalités précisées lors de la consultation d'annonce.", ""]},
}
_PPS_DEFAULT = {"delay": (7, 30), "days": [None], "specialty": None, "places": [""], "texts": [""]}
_FOLLOW_UP = [("11429006", ["Consultation avec votre oncologue.", "Consultation de surveillance.", ""]),
              ("MED-092", ["Scanner thoraco-abdomino-pelvien.", "IRM de contrôle.", "Mammographie.", ""]),
              ("MED-091", ["Prise de sang avant chaque consultation.", "Dosage des marqueurs.", ""])]
_SUPPORT = [("ORG-036", ["Consultation avec la diététicienne.", ""]), ("ORG-035", ["Consultation douleur.", ""]),
            ("ORG-175", ["Programme d'activité physique adaptée.", ""]),
            ("ORG-037", ["Soutien proposé aux proches.", ""]), ("MED-562", ["Consultation de tabacologie.", ""]),
            ("ORG-176", ["", "Conseils remis lors de la consultation infirmière."])]
_SOCIAL = [("PAT-024", ["Aide à domicile pendant les traitements.", ""]),
           ("PAT-027", ["Rendez-vous avec le médecin du travail.", ""]),
           ("PAT-026", ["Entretien avec l'assistante sociale.", ""])]


def demo_plan_input(rng: random.Random, *, kinds: list[str], meeting_day: date, members: list[m.Professional],
                    responsible: m.Professional, establishment: m.Establishment) -> Any:
    """A synthetic plan for the decided PPS treatment kinds: seeded draws, different for every patient."""
    from dcc.services.pps import PlanInput, PpsItemInput

    items = []
    start = meeting_day + timedelta(days=rng.randint(*_PPS_KINDS.get(kinds[0], _PPS_DEFAULT)["delay"]))
    for code in kinds:
        spec = _PPS_KINDS.get(code, _PPS_DEFAULT)
        days = rng.choice(spec["days"])
        end = None if days is None else start + timedelta(days=days)
        who = [p for p in members if spec["specialty"] and p.specialty_code == spec["specialty"]] or [responsible]
        place = rng.choice(spec["places"])
        items.append(PpsItemInput(category="treatment", code=code, start=start, end=end,
                                  place=f"{place}, {establishment.name}" if place and "domicile" not in place
                                  else place,
                                  responsible_id=rng.choice(who).id if rng.random() < 0.8 else None,
                                  text=rng.choice(spec["texts"])))
        start = (end or start) + timedelta(days=rng.randint(14, 35))
    for code, texts in rng.sample(_FOLLOW_UP, k=rng.randint(0, 2)):
        first = start + timedelta(days=rng.randint(0, 60))
        items.append(PpsItemInput(category="follow_up", code=code, start=first if rng.random() < 0.8 else None,
                                  text=rng.choice(texts)))
    for code, texts in rng.sample(_SUPPORT, k=rng.randint(0, 2)):
        items.append(PpsItemInput(category="supportive", code=code, text=rng.choice(texts)))
    for code, texts in rng.sample(_SOCIAL, k=rng.choice([0, 0, 1])):
        items.append(PpsItemInput(category="social", code=code, text=rng.choice(texts)))
    contact = ""
    if rng.random() < 0.7:
        contact = f"{rng.choice(['Infirmière de coordination', 'Secrétariat d’oncologie', 'IDE de coordination'])}" \
                  f" {rng.choice(data.GIVEN_F)} {rng.choice(data.FAMILY_NAMES)}"
    phone = "0" + rng.choice("12345") + "".join(rng.choice("0123456789") for _ in range(8)) if contact else ""
    return PlanInput(items=tuple(items), contact_name=contact, contact_phone=phone)


def author_demo_pps(db: Database, *, case_ids: list[str], seed: int, cda: Any, pdf: Any,
                    actor: str = "demo") -> tuple[list[str], dict[str, str]]:
    """The care team's work after the meeting, through the same services as the pages: open each PPS that
    a decision calls for, enter a synthetic plan, submit it for signature. Call after the Fiche RCP
    generation. Returns (PPS document ids, {case id: French refusal})."""
    from dcc.errors import DccError
    from dcc.services import pps as pps_services

    created: list[str] = []
    refused: dict[str, str] = {}
    with db.uow() as uow:
        todo = [c.id for c, _ in pps_services.cases_awaiting_pps(uow, case_ids)]
    for case_id in todo:
        rng = random.Random(f"pps-{seed}-{case_id}")
        try:
            with db.uow() as uow:
                pps_services.open_plan(uow, case_id=case_id, actor=actor)
            with db.uow() as uow:
                case = uow.session.get(m.Case, case_id)
                assert case is not None
                board = uow.session.get(m.Board, case.board_id)
                decision = repo.decision_of_case(uow.session, case_id)
                assert board is not None and decision is not None
                session = uow.session.get(m.Session, decision.session_id)
                responsible = uow.session.get(m.Professional, board.responsible_id)
                est = uow.session.get(m.Establishment, board.establishment_id)
                assert session is not None and responsible is not None and est is not None
                view = pps_services.plan_view(uow, case_id)
                kinds = [i.code for i in view.items if i.category == "treatment"]
                data_in = demo_plan_input(rng, kinds=kinds, meeting_day=paris_day(session.starts_at),
                                          members=repo.board_members(uow.session, board.id),
                                          responsible=responsible, establishment=est)
                pps_services.update_plan(uow, case_id=case_id, data=data_in, actor=actor)
            with db.uow() as uow:
                created.append(pps_services.submit_plan(uow, case_id=case_id, actor=actor, cda=cda, pdf=pdf))
        except DccError as exc:
            refused[case_id] = exc.message
    return created, refused
