"""Board use cases: plan sessions, register cases, assign them, attendance and quorum, decisions, validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from dcc import valuesets
from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.domain import assignment as solver
from dcc.domain.calendar import SessionRule, occurrences, working_days_before
from dcc.domain.quorum import Attendee, QuorumRule, compute_quorum
from dcc.errors import Conflict, NotFound, ValidationFailed
from dcc.services.audit import record_audit
from dcc.services.schemas import AttendanceInput, CaseRegistration, DecisionInput
from dcc.services.uow import UnitOfWork

URGENT_WEIGHT = 5
NORMAL_WEIGHT = 1


def _region_of_board(uow: UnitOfWork, board: m.Board) -> m.Region:
    est = repo.get(uow.session, m.Establishment, board.establishment_id, what="Établissement")
    assert isinstance(est, m.Establishment)
    region = repo.get(uow.session, m.Region, est.region_id, what="Région")
    assert isinstance(region, m.Region)
    return region


def plan_sessions(uow: UnitOfWork, *, today: date, horizon_weeks: int = 8,
                  board_ids: list[str] | None = None) -> int:
    """Create the sessions of the next `horizon_weeks` weeks. Idempotent: existing occurrences are kept."""
    if horizon_weeks < 1 or horizon_weeks > 104:
        raise ValidationFailed("L'horizon de planification doit être entre 1 et 104 semaines.", field="horizon_weeks")
    created = 0
    end = today + timedelta(weeks=horizon_weeks)
    for board in repo.boards(uow.session):
        if board_ids is not None and board.id not in board_ids:
            continue
        region = _region_of_board(uow, board)
        hh, mm = (int(x) for x in board.start_time.split(":"))
        rule = SessionRule(rrule=board.recurrence, start_time=time(hh, mm), duration_minutes=board.duration_min)
        existing = {s.occurrence for s in repo.sessions_of_board(uow.session, board.id)}
        for start in occurrences(rule, start=today, end=end, alsace_moselle=region.alsace_moselle):
            occurrence = start.astimezone(UTC)
            if occurrence in existing:
                continue
            uow.session.add(m.Session(
                board_id=board.id, occurrence=occurrence, starts_at=occurrence,
                registration_deadline=working_days_before(start.date(), board.deadline_working_days,
                                                          alsace_moselle=region.alsace_moselle),
                capacity=board.capacity,
            ))
            created += 1
    uow.session.flush()
    uow.commit()
    return created


def register_case(uow: UnitOfWork, *, data: CaseRegistration, actor: str = "system") -> str:
    """Register a case for a board (validated input); returns the case id."""
    board = uow.session.get(m.Board, data.board_id)
    if board is None:
        raise ValidationFailed(f"La RCP « {data.board_id} » n'existe pas.", field="board_id")
    requester = repo.professional_by_rpps(uow.session, data.requester_rpps)
    if requester is None:
        raise ValidationFailed(f"Aucun professionnel avec le RPPS {data.requester_rpps}.", field="requester_rpps")
    presenter = requester
    if data.presenter_rpps:
        presenter = repo.professional_by_rpps(uow.session, data.presenter_rpps)  # type: ignore[assignment]
        if presenter is None:
            raise ValidationFailed(f"Aucun professionnel avec le RPPS {data.presenter_rpps}.",
                                   field="presenter_rpps")
    ident = data.patient
    patient = repo.patient_by_ins(uow.session, ident.ins_matricule, ident.ins_oid)
    if patient is None:
        patient = m.Patient(
            ins_matricule=ident.ins_matricule, ins_oid=ident.ins_oid, ins_qualified=ident.ins_qualified,
            birth_family=ident.birth_family, birth_given_first=ident.birth_given_first,
            birth_given_all=ident.birth_given_all, birth_date=ident.birth_date, sex=ident.sex,
            birthplace_insee=ident.birthplace_insee, birthplace_city=ident.birthplace_city,
            used_family=ident.used_family or ident.birth_family, used_given=ident.used_given or "",
        )
        uow.session.add(patient)
        uow.session.flush()
    not_ready = list(data.readiness_missing())
    case = m.Case(
        patient_id=patient.id, board_id=board.id, requester_id=requester.id, presenter_id=presenter.id,
        topography_code=data.topography_code, morphology_code=data.morphology_code,
        tnm_t=data.tnm_t, tnm_n=data.tnm_n, tnm_m=data.tnm_m, phase=data.phase,
        performance_status=data.performance_status, motive=data.motive, question=data.question,
        summary=data.summary, discovery_mode=data.discovery_mode, urgent=data.urgent,
        earliest_date=data.earliest_date, standard=data.standard, referential_name=data.referential_name,
        referential_version=data.referential_version, referential_date=data.referential_date,
        required_specialties=list(data.required_specialties), not_ready=not_ready,
    )
    uow.session.add(case)
    uow.session.flush()
    record_audit(uow, actor=actor, action="case.register", entity="case", entity_id=case.id,
                 patient_id=patient.id)
    uow.commit()
    return case.id


@dataclass
class AssignmentSummary:
    assigned: int = 0
    unassigned: int = 0
    reasons: dict[str, str] = field(default_factory=dict)
    objective: float = 0.0


def _present_specialties(uow: UnitOfWork, board: m.Board, session: m.Session) -> frozenset[str]:
    """Specialties expected at a session: confirmed attendance when recorded, else the board's members."""
    rows = repo.attendance(uow.session, session.id)
    if rows:
        ids = [a.professional_id for a in rows if a.mode in ("present", "remote")]
        profs = repo.professionals_by_ids(uow.session, ids).values()
    else:
        profs = repo.board_members(uow.session, board.id)  # type: ignore[assignment]
    return frozenset(p.specialty_code for p in profs)


def assign_cases(uow: UnitOfWork, *, today: date) -> AssignmentSummary:
    """Assign every pending case to a session of its board, optimally (min-cost flow)."""
    cases = repo.pending_cases(uow.session)
    summary = AssignmentSummary()
    if not cases:
        return summary
    sessions = repo.open_sessions(uow.session, from_date=today)
    load = repo.session_load(uow.session, [s.id for s in sessions])
    boards = {b.id: b for b in repo.boards(uow.session)}
    supplies = []
    for s in sessions:
        board = boards[s.board_id]
        free = s.capacity - load.get(s.id, 0)
        if free <= 0:
            continue
        supplies.append(solver.SessionSupply(
            id=s.id, board=board.id, board_kind=board.kind, organ=board.id,
            date=s.starts_at.astimezone(UTC).date(), registration_deadline=s.registration_deadline,
            capacity=free, specialties_present=_present_specialties(uow, board, s),
        ))
    demands = []
    for c in cases:
        board = boards[c.board_id]
        urgent_deadline = c.earliest_date + timedelta(days=14) if c.urgent else None
        demands.append(solver.CaseDemand(
            id=c.id, weight=URGENT_WEIGHT if c.urgent else NORMAL_WEIGHT, earliest=max(c.earliest_date, today),
            deadline=urgent_deadline, board_kind=board.kind, organ=board.id,
            required_specialties=frozenset(c.required_specialties),
        ))
    result = solver.assign(demands, supplies, today=today)
    by_id = {c.id: c for c in cases}
    for case_id, session_id in result.assignment.items():
        case = by_id[case_id]
        reason = result.reasons.get(case_id, "")
        if session_id is None:
            summary.unassigned += 1
            case.assignment_reason = reason or "Aucune séance compatible avec de la place."
            continue
        case.session_id = session_id
        case.status = "assigned"
        case.assignment_reason = reason
        case.registration_number = f"{case_id[:8].upper()}"
        summary.assigned += 1
        summary.reasons[case_id] = reason
    summary.objective = float(result.objective)
    uow.session.flush()
    uow.commit()
    return summary


def record_attendance(uow: UnitOfWork, *, session_id: str, data: AttendanceInput, actor: str = "system") -> str:
    """Record who attended (present / remote / absent); compute and store the quorum. Returns the status."""
    session = uow.session.get(m.Session, session_id)
    if session is None:
        raise NotFound(f"Séance « {session_id} » introuvable.")
    if session.status in ("validated", "cancelled"):
        raise Conflict("La séance est déjà validée ou annulée : la présence ne peut plus changer.")
    board = uow.session.get(m.Board, session.board_id)
    assert board is not None
    profs = repo.professionals_by_ids(uow.session, list(data.attendance))
    unknown = set(data.attendance) - set(profs)
    if unknown:
        raise ValidationFailed(f"Professionnel(s) inconnu(s) : {', '.join(sorted(unknown))}.", field="attendance")
    existing = {a.professional_id: a for a in repo.attendance(uow.session, session_id)}
    for prof_id, mode in data.attendance.items():
        row = existing.get(prof_id)
        if row is None:
            uow.session.add(m.Attendance(session_id=session_id, professional_id=prof_id, mode=mode))
        else:
            row.mode = mode
    uow.session.flush()
    attendees = [
        Attendee(professional_id=a.professional_id,
                 specialties=frozenset({profs[a.professional_id].specialty_code}) if a.professional_id in profs
                 else frozenset(),
                 presence=a.mode,  # type: ignore[arg-type]
                 is_physician=profs[a.professional_id].is_physician if a.professional_id in profs else True)
        for a in repo.attendance(uow.session, session_id)
    ]
    if any(a.professional_id not in profs for a in attendees):
        all_profs = repo.professionals_by_ids(uow.session, [a.professional_id for a in attendees])
        attendees = [Attendee(professional_id=a.professional_id,
                              specialties=frozenset({all_profs[a.professional_id].specialty_code}),
                              presence=a.presence, is_physician=all_profs[a.professional_id].is_physician)
                     for a in attendees]
    rule = QuorumRule(required_specialties=frozenset(board.required_specialties))
    result = compute_quorum(rule, attendees)
    session.quorum = result.status
    session.quorum_detail = list(result.missing)
    session.status = "held"
    record_audit(uow, actor=actor, action="session.attendance", entity="session", entity_id=session_id)
    uow.commit()
    return result.status


def record_decision(uow: UnitOfWork, *, case_id: str, data: DecisionInput, actor: str = "system") -> str:
    case = uow.session.get(m.Case, case_id)
    if case is None:
        raise NotFound(f"Dossier « {case_id} » introuvable.")
    if case.session_id != data.session_id:
        raise ValidationFailed("Ce dossier n'est pas inscrit à cette séance.", field="session_id")
    session = uow.session.get(m.Session, data.session_id)
    assert session is not None
    if session.status == "validated":
        raise Conflict("La séance est validée : ses décisions sont verrouillées.")
    for code in data.proposal_codes:
        valuesets.lookup("JDV_TypeTraitement_FRCP_CISIS", code, field="proposal_codes")
    if data.case_status == "registered" and not case.standard:
        raise ValidationFailed("Seul un dossier standard (conforme à un référentiel) peut être simplement "
                               "enregistré.", field="case_status")
    decision = repo.decision_of_case(uow.session, case_id)
    if decision is None:
        decision = m.Decision(case_id=case_id, session_id=data.session_id, case_status=data.case_status)
        uow.session.add(decision)
    decision.case_status = data.case_status
    decision.proposal_codes = list(data.proposal_codes)
    decision.proposal_text = data.proposal_text
    decision.conform_to_referential = data.conform_to_referential
    decision.departure_justification = data.departure_justification
    decision.trial_proposed = data.trial_proposed
    decision.trial_name = data.trial_name
    decision.comment = data.comment
    decision.quorum = session.quorum
    case.status = "decided"
    uow.session.flush()
    record_audit(uow, actor=actor, action="decision.record", entity="case", entity_id=case_id,
                 patient_id=case.patient_id)
    uow.commit()
    return decision.id


@dataclass
class ValidationSummary:
    case_ids: list[str] = field(default_factory=list)  # cases whose documents are to be generated
    represented: list[str] = field(default_factory=list)  # new cases created to re-present without quorum


def validate_session(uow: UnitOfWork, *, session_id: str, today: date, actor: str = "system") -> ValidationSummary:
    """Lock the session's decisions. Without quorum, each case is re-presented at a later session."""
    session = uow.session.get(m.Session, session_id)
    if session is None:
        raise NotFound(f"Séance « {session_id} » introuvable.")
    if session.status == "validated":
        raise Conflict("La séance est déjà validée.")
    out = ValidationSummary()
    for case in repo.cases_of_session(uow.session, session_id):
        decision = repo.decision_of_case(uow.session, case.id)
        if decision is None:
            continue
        decision.locked = True
        decision.quorum = session.quorum
        out.case_ids.append(case.id)
        if session.quorum != "met" and decision.case_status == "discussed":
            again = m.Case(**{c: getattr(case, c) for c in (
                "patient_id", "board_id", "requester_id", "presenter_id", "topography_code", "morphology_code",
                "tnm_t", "tnm_n", "tnm_m", "phase", "performance_status", "motive", "question", "summary",
                "discovery_mode", "urgent", "standard", "referential_name", "referential_version",
                "referential_date", "required_specialties")})
            again.earliest_date = today
            again.assignment_reason = "Représenté : quorum non atteint à la séance précédente."
            uow.session.add(again)
            uow.session.flush()
            out.represented.append(again.id)
    session.status = "validated"
    record_audit(uow, actor=actor, action="session.validate", entity="session", entity_id=session_id)
    uow.commit()
    return out
