"""Synthetic clinical activity for the demo: one case per patient, and what happens at the meeting."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.demo import data
from dcc.services import boards as board_services
from dcc.services.schemas import AttendanceInput, CaseRegistration, DecisionInput, PatientIdentity
from dcc.services.uow import Database

ORGAN_PROPOSALS = [
    ["387713003"], ["387713003", "C15313"], ["C15632", "387713003"], ["C15313", "C547"], ["C93352"],
    ["C15262"], ["MED-227"], ["387713003", "C15632", "C15313"],
]
TRANSVERSAL_PROPOSALS = [["C15747"], ["GEN-092.03.01"], ["C15252", "C15747"]]


def _board_for(rng: random.Random, boards: list[m.Board], patient: m.Patient, today: date) -> m.Board:
    age = (today - patient.birth_date).days // 365
    paediatric = [b for b in boards if b.pediatric]
    if age < 18 and paediatric:
        return rng.choice(paediatric)
    adult = [b for b in boards if not b.pediatric]
    return rng.choice(adult)


def register_demo_cases(db: Database, *, patient_ids: list[str], seed: int, today: date) -> list[str]:
    """Register one case per patient on a board of the patient's age group (validated like any input)."""
    rng = random.Random(f"cases-{seed}-{today.isoformat()}")
    case_ids: list[str] = []
    with db.uow() as uow:
        boards = repo.boards(uow.session)
        plans = []
        for pid in patient_ids:
            patient = uow.session.get(m.Patient, pid)
            assert patient is not None and patient.ins_oid is not None  # seeded with an INS
            board = _board_for(rng, boards, patient, today)
            members = repo.board_members(uow.session, board.id)
            requester = rng.choice(members)
            tpl = next((t for t in data.BOARDS if f"RCP {t['name']}" == board.name), data.BOARDS[0])
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
                topography_code=rng.choice(tpl["topographies"]), morphology_code=str(tpl["morphology"]),
                tnm_t=rng.choice(["T1", "T2", "T3", "T1c", "T2a"]), tnm_n=rng.choice(["N0", "N1", "N2"]),
                tnm_m=rng.choice(["M0", "M0", "M0", "M1"]),
                phase="relapse" if rng.random() < 0.2 else "initial", performance_status=rng.choice([0, 0, 1, 1, 2]),
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


def hold_meetings(db: Database, *, seed: int, today: date, quorum_failure_rate: float = 0.1) -> MeetingResult:
    """Hold every session that has cases: attendance (quorum), a decision per case, validation."""
    rng = random.Random(f"meeting-{seed}-{today.isoformat()}")
    out = MeetingResult()
    with db.uow() as uow:
        sessions = [s for s in repo.sessions_between(uow.session, board_id=None, start=None, end=None)
                    if s.status == "planned" and repo.cases_of_session(uow.session, s.id)]
        plan = []
        for s in sessions:
            board = uow.session.get(m.Board, s.board_id)
            assert board is not None
            members = repo.board_members(uow.session, board.id)
            fail = rng.random() < quorum_failure_rate
            attendance = {}
            for p in members:
                if fail and p.specialty_code != data.MEDICAL_ONCOLOGIST:
                    attendance[p.id] = "absent"
                else:
                    attendance[p.id] = rng.choice(["present", "present", "remote"])
            agenda = repo.cases_of_session(uow.session, s.id)
            plan.append((s.id, board.kind, attendance, [(c.id, c.standard) for c in agenda]))
    for session_id, kind, attendance, decided in plan:
        with db.uow() as uow:
            status = board_services.record_attendance(uow, session_id=session_id,
                                                      data=AttendanceInput(attendance=attendance), actor="demo")
        out.sessions += 1
        if status == "met":
            out.quorum_met += 1
        else:
            out.quorum_not_met += 1
        for case_id, standard in decided:
            proposals = ORGAN_PROPOSALS if kind == "organ" else TRANSVERSAL_PROPOSALS
            codes = rng.choice(proposals)
            trial = rng.random() < 0.2
            conform = True if standard else rng.random() < 0.85
            decision = DecisionInput(
                session_id=session_id, case_status="registered" if standard else "discussed",
                proposal_codes=codes,
                proposal_text="Proposition conforme au référentiel régional." if standard else
                "Proposition thérapeutique validée en RCP.",
                conform_to_referential=conform,
                departure_justification="" if conform else "Comorbidités contre-indiquant le standard.",
                trial_proposed=trial, trial_name="Essai de phase III (exemple)" if trial else "",
            )
            with db.uow() as uow:
                board_services.record_decision(uow, case_id=case_id, data=decision, actor="demo")
        with db.uow() as uow:
            summary = board_services.validate_session(uow, session_id=session_id, today=today, actor="demo")
        out.decided_cases.extend(summary.case_ids)
        out.represented.extend(summary.represented)
    return out


def session_date(db: Database, session_id: str) -> date:
    with db.uow() as uow:
        s = uow.session.get(m.Session, session_id)
        assert s is not None
        return s.starts_at.astimezone(UTC).date()
