"""Board use cases: plan sessions, register cases, assign them, attendance and quorum, decisions, validation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.domain import assignment as solver
from dcc.domain import tumour as tumour_rules
from dcc.domain.calendar import PARIS, SessionRule, add_working_days, occurrences, working_days_before
from dcc.domain.clock import fr_datetime, not_started, now_utc
from dcc.domain.quorum import Attendee, QuorumRule, compute_quorum
from dcc.domain.states import CaseStatus, GenerationState, SessionStatus, advance
from dcc.errors import Conflict, NotFound, UndecidedCases, ValidationFailed
from dcc.services import codes, identity, proposal_entries
from dcc.services.audit import record_audit
from dcc.services.schemas import AttendanceInput, CaseRegistration, DecisionInput, ReadinessKind, TumourUpdate
from dcc.services.uow import UnitOfWork

URGENT_WEIGHT = 5
NORMAL_WEIGHT = 1
URGENT_WORKING_DAYS = 10
"""Default: an urgent case is discussed within this many working days of its earliest date."""
REASSIGNMENT_BONUS = 1
"""Weight added to cases displaced by a cancellation or a missing quorum (ahead of new cases)."""
ONCOGENETICS_CODE = "ORG-129"  # JDV_TraitementSoins_FRCP_CISIS: Oncogénétique


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
        if (board_ids is not None and board.id not in board_ids) or not board.active:
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
    if not board.active:
        raise ValidationFailed(f"La RCP « {board.name} » est désactivée : choisissez une autre RCP.",
                               field="board_id")
    requester = repo.professional_by_rpps(uow.session, data.requester_rpps)
    if requester is None:
        raise ValidationFailed(f"Aucun professionnel avec le RPPS {data.requester_rpps}.", field="requester_rpps")
    presenter = requester
    if data.presenter_rpps:
        presenter = repo.professional_by_rpps(uow.session, data.presenter_rpps)  # type: ignore[assignment]
        if presenter is None:
            raise ValidationFailed(f"Aucun professionnel avec le RPPS {data.presenter_rpps}.",
                                   field="presenter_rpps")
    check_tumour_for_board(board, data)
    check_case_codes(uow, data)
    # Identity vigilance (INS rules): never merge, match patients without INS, one open case per board.
    patient = identity.resolve_patient(uow, data, actor=actor)
    identity.refuse_duplicate_open_case(uow, patient_id=patient.id, board_id=board.id, board_name=board.name)
    missing = list(data.readiness_missing(readiness_kind(board)))
    not_ready = [] if data.force else missing
    case = m.Case(
        patient_id=patient.id, board_id=board.id, requester_id=requester.id, presenter_id=presenter.id,
        topography_code=data.topography_code, morphology_code=data.morphology_code,
        tnm_t=data.tnm_t, tnm_n=data.tnm_n, tnm_m=data.tnm_m, tnm_edition=data.tnm_edition,
        tnm_stage=data.tnm_stage, laterality=data.laterality, diagnosis_date=data.diagnosis_date, phase=data.phase,
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
    if data.force and missing:
        record_audit(uow, actor=actor, action="case.force_not_ready", entity="case", entity_id=case.id,
                     patient_id=patient.id, detail={"missing": missing})
    uow.commit()
    return case.id


def check_tumour_for_board(board: m.Board, data: CaseRegistration) -> None:
    """The board's organ group may exclude TNM (haematology, central nervous system): refuse one entered."""
    group = board.organe_code or board.appareil_code
    if data.tnm_t and not tumour_rules.tnm_applies(data.topography_code, group):
        raise ValidationFailed("La classification TNM ne s'applique pas aux tumeurs de cette RCP (UICC, 8e édition) : "
                               "laissez T, N et M vides.", field="tnm_t")


TOPOGRAPHY = ("topography_code", "topographie (CIM-10)", "JDV_Tumeur_CISIS")
MORPHOLOGY = ("morphology_code", "morphologie (CIM-O-3)", "JDV_Morphologie_CISIS")
SPECIALTIES = "JDV_J01_XdsAuthorSpecialty_CISIS"
TREATMENTS = "JDV_TypeTraitement_FRCP_CISIS"


def _tumour_codes(uow: UnitOfWork, topography: str, morphology: str | None,
                  extra: Sequence[codes.CodedEntry] = ()) -> tuple[str, str]:
    """Topography and morphology in force in the database, and coherent (a morphology of the site's kind);
    returns their labels."""
    entries = [codes.CodedEntry(TOPOGRAPHY[0], TOPOGRAPHY[1], TOPOGRAPHY[2], topography)]
    if morphology:
        entries.append(codes.CodedEntry(MORPHOLOGY[0], MORPHOLOGY[1], MORPHOLOGY[2], morphology))
    found = codes.check(uow, [*entries, *extra])
    topo_label = found[(TOPOGRAPHY[2], topography)].display
    morph_label = found[(MORPHOLOGY[2], morphology)].display if morphology else ""
    if morphology:
        problem = tumour_rules.morphology_problem(topography, topo_label, morphology, morph_label)
        if problem:
            raise ValidationFailed(problem, field="morphology_code")
    return topo_label, morph_label


def check_case_codes(uow: UnitOfWork, data: CaseRegistration) -> None:
    """The coded fields of a registration in the referentials in force (dcc.services.codes). Reads only."""
    from dcc.domain.quorum import SPECIALTY_GROUPS

    specialties = [codes.CodedEntry("required_specialties", "spécialités requises", SPECIALTIES, code)
                   for code in data.required_specialties if code not in SPECIALTY_GROUPS]
    _tumour_codes(uow, data.topography_code, data.morphology_code, specialties)


def update_tumour(uow: UnitOfWork, *, case_id: str, data: TumourUpdate, today: date, actor: str) -> None:
    """Enter a case's tumour again (e.g. the missing TNM): the registration's rules, audited. Refused once a
    document describing it has been signed (that goes through the document's correction)."""
    case = uow.session.get(m.Case, case_id)
    if case is None:
        raise NotFound(f"Dossier « {case_id} » introuvable.")
    if any(doc.status != "draft" for doc in repo.documents_of_case(uow.session, case_id)):
        raise Conflict("Un document signé décrit déjà cette tumeur : passez par la correction du document.")
    board = uow.session.get(m.Board, case.board_id)
    patient = uow.session.get(m.Patient, case.patient_id)
    assert board is not None and patient is not None
    topography_label, morphology_label = _tumour_codes(uow, data.topography_code, data.morphology_code)
    problem = tumour_rules.tumour_problem(
        topography=data.topography_code, topography_label=topography_label,
        morphology=data.morphology_code, morphology_label=morphology_label,
        t=data.tnm_t, n=data.tnm_n, m=data.tnm_m, edition=data.tnm_edition, stage=data.tnm_stage,
        laterality=data.laterality, diagnosis_date=data.diagnosis_date, birth_date=patient.birth_date, today=today,
        organ_group=board.organe_code or board.appareil_code)
    if problem:
        raise ValidationFailed(problem[1], field=problem[0])
    before = {k: getattr(case, k) for k in TumourUpdate.model_fields}
    for key in TumourUpdate.model_fields:
        value = getattr(data, key)
        if key in ("tnm_t", "tnm_n", "tnm_m") and value:
            value = tumour_rules.parse_tnm(key[-1], value).text
        if key == "tnm_stage" and value:
            value = tumour_rules.check_stage(value)
        setattr(case, key, value)
    changed = {k: str(v) for k, v in before.items() if getattr(case, k) != v}
    record_audit(uow, actor=actor, action="case.update_tumour", entity="case", entity_id=case.id,
                 patient_id=case.patient_id, detail={"before": changed})
    uow.commit()


def readiness_kind(board: m.Board) -> ReadinessKind:
    """Which readiness checklist applies to the cases of a board (see `CaseRegistration.readiness_missing`)."""
    if board.pediatric:
        return "paediatric"
    if board.kind == "transversal":
        return "oncogenetics" if board.transversal_code == ONCOGENETICS_CODE else "transversal"
    return "organ"


def force_not_ready(uow: UnitOfWork, *, case_id: str, actor: str) -> list[str]:
    """The coordinator forces a case flagged not ready: it becomes assignable; the override is audited.

    Returns what was missing (now cleared from the case, kept in the audit entry).
    """
    case = uow.session.get(m.Case, case_id)
    if case is None:
        raise NotFound(f"Dossier « {case_id} » introuvable.")
    missing = list(case.not_ready or [])
    if not missing:
        return []
    if case.status != CaseStatus.PENDING:
        raise Conflict("Seul un dossier en attente d'affectation peut être forcé.")
    case.not_ready = []
    record_audit(uow, actor=actor, action="case.force_not_ready", entity="case", entity_id=case.id,
                 patient_id=case.patient_id, detail={"missing": missing})
    uow.commit()
    return missing


@dataclass
class AssignmentSummary:
    assigned: int = 0
    unassigned: int = 0
    not_ready: int = 0  # pending cases skipped: flagged not ready and not forced by the coordinator
    reasons: dict[str, str] = field(default_factory=dict)
    objective: float = 0.0


def session_date(session: m.Session) -> date:
    """The session's day in Europe/Paris (a session at 00:30 local time is on that local day)."""
    return session.starts_at.astimezone(PARIS).date()


def _present_specialties(uow: UnitOfWork, board: m.Board, session: m.Session) -> frozenset[str]:
    """Specialties expected at a session: confirmed attendance when recorded, else the board's members."""
    rows = repo.attendance(uow.session, session.id)
    if rows:
        ids = [a.professional_id for a in rows if a.mode in ("present", "remote")]
        profs = repo.professionals_by_ids(uow.session, ids).values()
    else:
        profs = repo.board_members(uow.session, board.id)  # type: ignore[assignment]
    return frozenset(p.specialty_code for p in profs)


def _supply(uow: UnitOfWork, board: m.Board, s: m.Session, capacity: int) -> solver.SessionSupply:
    return solver.SessionSupply(
        id=s.id, board=board.name, board_kind=board.kind, organ=board.id, date=session_date(s),
        registration_deadline=s.registration_deadline, capacity=capacity,
        specialties_present=_present_specialties(uow, board, s),
    )


def _demand(case: m.Case, board: m.Board, *, today: date, deadline: date | None) -> solver.CaseDemand:
    return solver.CaseDemand(
        id=case.id, weight=URGENT_WEIGHT if case.urgent else NORMAL_WEIGHT,
        earliest=max(case.earliest_date, today), deadline=deadline, board_kind=board.kind, organ=board.id,
        required_specialties=frozenset(case.required_specialties or ()),
    )


def _registration_number(case: m.Case) -> None:
    if not case.registration_number:
        case.registration_number = case.id[:8].upper()


def assign_cases(uow: UnitOfWork, *, today: date, urgent_working_days: int = URGENT_WORKING_DAYS,
                 case_ids: Sequence[str] | None = None) -> AssignmentSummary:
    """Assign every pending, ready case to a session of its board, optimally (min-cost flow).

    Urgent cases must be discussed within `urgent_working_days` working days of their earliest date
    (or of today when that is later). Cases flagged not ready are skipped unless the coordinator forced
    them (`force_not_ready`, or `force` at registration). `case_ids`: only these pending cases (a case
    just registered is assigned at once; the scheduled flow assigns every pending case).
    """
    if urgent_working_days < 0:
        raise ValidationFailed("Le délai des dossiers urgents doit être positif ou nul.",
                               field="urgent_working_days")
    summary = AssignmentSummary()
    cases = []
    for c in repo.pending_cases(uow.session):
        if case_ids is not None and c.id not in case_ids:
            continue
        if c.not_ready:
            summary.not_ready += 1
            c.assignment_reason = ("Non affecté : dossier incomplet (" + ", ".join(c.not_ready) + "). "
                                   "Le coordinateur peut forcer son inscription.")
        else:
            cases.append(c)
    if not cases:
        uow.session.flush()
        uow.commit()
        return summary
    sessions = repo.open_sessions(uow.session, from_date=today)
    load = repo.session_load(uow.session, [s.id for s in sessions])
    boards = {b.id: b for b in repo.boards(uow.session)}
    alsace = {b.id: _region_of_board(uow, b).alsace_moselle for b in boards.values()}
    supplies = []
    for s in sessions:
        free = s.capacity - load.get(s.id, 0)
        if free > 0:
            supplies.append(_supply(uow, boards[s.board_id], s, free))
    demands = []
    for c in cases:
        start = max(c.earliest_date, today)
        deadline = (add_working_days(start, urgent_working_days, alsace_moselle=alsace[c.board_id])
                    if c.urgent else None)
        demands.append(_demand(c, boards[c.board_id], today=today, deadline=deadline))
    result = solver.assign(demands, supplies, today=today)
    assignment = dict(result.assignment)
    reasons = dict(result.reasons)
    # An urgent case that no session can take before its urgency deadline is not left waiting: it goes to
    # the first possible session, with the overrun stated for the coordinator (who may add a session).
    late = [d for d in demands if d.deadline is not None and assignment.get(d.id) is None]
    if late:
        used = Counter(sid for sid in assignment.values() if sid is not None)
        remaining = [replace(s, capacity=s.capacity - used[s.id]) for s in supplies if s.capacity > used[s.id]]
        second = solver.assign([replace(d, deadline=None) for d in late], remaining, today=today)
        for case_id, session_id in second.assignment.items():
            if session_id is not None:
                assignment[case_id] = session_id
                reasons[case_id] = ("Urgent : aucune séance avant la date limite d'urgence ; "
                                    "affecté à la première séance possible. " + second.reasons.get(case_id, ""))
    by_id = {c.id: c for c in cases}
    for case_id, session_id in assignment.items():
        case = by_id[case_id]
        reason = reasons.get(case_id, "")
        if session_id is None:
            summary.unassigned += 1
            case.assignment_reason = reason or "Aucune séance compatible avec de la place."
            continue
        case.session_id = session_id
        advance(case, CaseStatus.ASSIGNED)
        case.assignment_reason = reason
        _registration_number(case)
        summary.assigned += 1
        summary.reasons[case_id] = reason
    summary.objective = float(result.objective)
    uow.session.flush()
    uow.commit()
    return summary


@dataclass(frozen=True)
class CaseMove:
    """Where a case went after a cancellation, a moved session or a missing quorum (None: back to pending)."""

    case_id: str
    session_id: str | None
    reason: str


def _reassign(uow: UnitOfWork, board: m.Board, cases: Sequence[m.Case], *, today: date,
              exclude: Sequence[str], why: str, actor: str, after: datetime | None = None) -> dict[str, CaseMove]:
    """Re-place `cases` on the next suitable planned sessions of `board`, keeping their priority.

    Displaced cases keep their urgency weight plus `REASSIGNMENT_BONUS` (ahead of new cases of the same
    urgency), are not stopped by registration deadlines, and respect capacity (cases already booked stay),
    earliest date and required specialists. Only sessions starting after `after` are candidates (a case
    displaced from a cancelled session is not pulled forward onto an agenda already closed). Cases that
    find no session go back to pending. Does not commit.
    """
    if not cases:
        return {}
    start = datetime.combine(today, time(0, 0), tzinfo=PARIS)
    candidates = [s for s in repo.planned_sessions_of_board(uow.session, board.id, start=start)
                  if s.id not in exclude and (after is None or s.starts_at > after)]
    booked = repo.session_load(uow.session, [s.id for s in candidates])
    supplies = [_supply(uow, board, s, s.capacity) for s in candidates]
    demands = [_demand(c, board, today=today, deadline=None) for c in cases]
    result = solver.reassign_after_cancellation(demands, supplies, today=today, cancelled=list(exclude),
                                                booked=booked, priority_bonus=REASSIGNMENT_BONUS)
    moves: dict[str, CaseMove] = {}
    for case in cases:
        target = result.assignment.get(case.id)
        reason = f"{why} {result.reasons.get(case.id, '')}".strip()
        case.assignment_reason = reason
        if target is None:
            case.session_id = None
            advance(case, CaseStatus.PENDING)
        else:
            case.session_id = target
            advance(case, CaseStatus.ASSIGNED)
            _registration_number(case)
        moves[case.id] = CaseMove(case_id=case.id, session_id=target, reason=reason)
        record_audit(uow, actor=actor, action="case.reassign", entity="case", entity_id=case.id,
                     patient_id=case.patient_id, detail={"session_id": target, "reason": reason})
    uow.session.flush()
    return moves


def _session_for_change(uow: UnitOfWork, session_id: str) -> tuple[m.Session, m.Board]:
    session = uow.session.get(m.Session, session_id)
    if session is None:
        raise NotFound(f"Séance « {session_id} » introuvable.")
    if session.status != SessionStatus.PLANNED:
        labels = {"held": "déjà tenue", "validated": "déjà validée", "cancelled": "déjà annulée"}
        raise Conflict(f"La séance est {labels.get(session.status, session.status)} : "
                       "elle ne peut plus être annulée ni déplacée.")
    board = uow.session.get(m.Board, session.board_id)
    assert board is not None
    return session, board


@dataclass
class CancellationSummary:
    session_id: str
    moves: dict[str, CaseMove] = field(default_factory=dict)  # case id -> where it went

    @property
    def reassigned(self) -> int:
        return sum(1 for mv in self.moves.values() if mv.session_id is not None)

    @property
    def back_to_pending(self) -> list[str]:
        return [cid for cid, mv in self.moves.items() if mv.session_id is None]


def cancel_session(uow: UnitOfWork, *, session_id: str, today: date, actor: str,
                   dry_run: bool = False) -> CancellationSummary:
    """Cancel one session (an exception to the board's rule); its cases move to the next suitable sessions.

    Priority is kept (urgency weight + bonus); cases that find no session go back to pending with the
    reason. The occurrence stays (cancelled), so planning does not recreate it. `dry_run`: the same
    computation, rolled back instead of committed (the page's preview of where each case would go).
    """
    session, board = _session_for_change(uow, session_id)
    when = session_date(session)
    if when < today:
        raise ValidationFailed(f"La séance du {when:%d/%m/%Y} est passée : elle ne peut plus être annulée.",
                               field="session_id")
    cases = repo.cases_of_session(uow.session, session_id)
    decided = repo.decisions_of_cases(uow.session, [c.id for c in cases])
    if decided:
        raise Conflict("Des décisions sont déjà enregistrées pour cette séance : elle ne peut plus être annulée.")
    advance(session, SessionStatus.CANCELLED)
    uow.session.flush()
    moves = _reassign(uow, board, cases, today=today, exclude=[session_id],
                      why=f"Séance du {when:%d/%m/%Y} annulée.", actor=actor, after=session.starts_at)
    record_audit(uow, actor=actor, action="session.cancel", entity="session", entity_id=session_id,
                 detail={"moves": {cid: mv.session_id for cid, mv in moves.items()}})
    _commit_unless(uow, dry_run)
    return CancellationSummary(session_id=session_id, moves=moves)


def _commit_unless(uow: UnitOfWork, dry_run: bool) -> None:
    if dry_run:
        uow.rollback()
    else:
        uow.commit()


@dataclass
class SessionMoveSummary:
    session_id: str
    starts_at: datetime
    registration_deadline: date
    moves: dict[str, CaseMove] = field(default_factory=dict)  # cases that no longer fit the new date


def move_session(uow: UnitOfWork, *, session_id: str, new_start: datetime, today: date,
                 actor: str, dry_run: bool = False) -> SessionMoveSummary:
    """Move one session (an exception to the board's rule). A naive `new_start` is Europe/Paris time.

    The registration deadline follows the new date. Cases whose earliest date falls after the new date
    are re-placed like after a cancellation; the others stay. `dry_run`: computed, then rolled back.
    """
    session, board = _session_for_change(uow, session_id)
    local = new_start.replace(tzinfo=PARIS) if new_start.tzinfo is None else new_start.astimezone(PARIS)
    if local.date() < today:
        raise ValidationFailed(f"La nouvelle date de la séance ({local:%d/%m/%Y}) est dans le passé.",
                               field="starts_at")
    new_utc = local.astimezone(UTC)
    for other in repo.sessions_of_board(uow.session, board.id):
        if other.id != session_id and other.status != SessionStatus.CANCELLED and other.starts_at == new_utc:
            raise ValidationFailed(f"La RCP a déjà une séance le {local:%d/%m/%Y à %H:%M}.", field="starts_at")
    region = _region_of_board(uow, board)
    old = session.starts_at
    session.starts_at = new_utc
    session.registration_deadline = working_days_before(local.date(), board.deadline_working_days,
                                                        alsace_moselle=region.alsace_moselle)
    uow.session.flush()
    late = [c for c in repo.cases_of_session(uow.session, session_id) if c.earliest_date > local.date()]
    moves = _reassign(uow, board, late, today=today, exclude=[],
                      why=f"Séance déplacée au {local:%d/%m/%Y}, avant la date au plus tôt du dossier.",
                      actor=actor)
    record_audit(uow, actor=actor, action="session.move", entity="session", entity_id=session_id,
                 detail={"from": old.isoformat(), "to": new_utc.isoformat(),
                         "moves": {cid: mv.session_id for cid, mv in moves.items()}})
    deadline = session.registration_deadline
    _commit_unless(uow, dry_run)
    return SessionMoveSummary(session_id=session_id, starts_at=new_utc, registration_deadline=deadline,
                              moves=moves)


@dataclass
class CaseMoveResult:
    case_id: str
    from_session_id: str | None
    session_id: str
    reason: str
    overrides: list[str] = field(default_factory=list)  # constraints the coordinator overrode (audited)


def move_case(uow: UnitOfWork, *, case_id: str, session_id: str, today: date, force: bool = False,
              actor: str) -> CaseMoveResult:
    """Put a case on a given session of its board (the coordinator's manual move).

    Always refused: a session in the past, of another board, cancelled or validated; a case already
    decided. Refused unless `force` (the coordinator's override, audited as `case.move_forced`): a full
    session, a closed registration, a session before the case's earliest date, a case not ready.
    """
    case = uow.session.get(m.Case, case_id)
    if case is None:
        raise NotFound(f"Dossier « {case_id} » introuvable.")
    if case.status == CaseStatus.DECIDED:
        raise Conflict("Le dossier a déjà une décision : il ne peut plus changer de séance.")
    if case.status == REPRESENTED:
        raise Conflict("Le dossier a été représenté (quorum non atteint) : déplacez sa re-présentation.")
    session = uow.session.get(m.Session, session_id)
    if session is None:
        raise ValidationFailed(f"La séance « {session_id} » n'existe pas.", field="session_id")
    if session.board_id != case.board_id:
        raise ValidationFailed("La séance appartient à une autre RCP que celle du dossier.", field="session_id")
    if session.status in (SessionStatus.CANCELLED, SessionStatus.VALIDATED):
        label = "annulée" if session.status == SessionStatus.CANCELLED else "validée"
        raise ValidationFailed(f"La séance est {label} : aucun dossier ne peut y être inscrit.", field="session_id")
    when = session_date(session)
    if when < today:
        raise ValidationFailed(f"La séance du {when:%d/%m/%Y} est passée.", field="session_id")
    previous = case.session_id
    if previous == session_id:
        return CaseMoveResult(case_id=case_id, from_session_id=previous, session_id=session_id,
                              reason=case.assignment_reason)
    soft: list[tuple[str, str, str]] = []  # (override key, field, French message)
    load = repo.session_load(uow.session, [session_id]).get(session_id, 0)
    if load >= session.capacity:
        soft.append(("capacity", "capacity",
                     f"La séance est complète ({load}/{session.capacity} dossiers) : capacité dépassée. "
                     "Seul le coordinateur peut forcer l'inscription au-delà de la capacité."))
    if session.registration_deadline < today:
        soft.append(("registration_deadline", "session_id",
                     f"Les inscriptions à cette séance sont closes depuis le "
                     f"{session.registration_deadline:%d/%m/%Y}."))
    if case.earliest_date > when:
        soft.append(("earliest_date", "session_id",
                     f"La séance a lieu avant la date au plus tôt du dossier ({case.earliest_date:%d/%m/%Y})."))
    if case.not_ready:
        soft.append(("not_ready", "case_id", "Le dossier est incomplet : " + ", ".join(case.not_ready) + "."))
    if soft and not force:
        _, fld, message = soft[0]
        raise ValidationFailed(message, field=fld)
    overrides = [key for key, _, _ in soft]
    board = uow.session.get(m.Board, case.board_id)
    assert board is not None
    reason = f"Séance du {when:%d/%m/%Y} ({board.name}) : choisie par le coordinateur."
    if overrides:
        labels = {"capacity": "capacité dépassée", "registration_deadline": "inscriptions closes",
                  "earliest_date": "avant la date au plus tôt", "not_ready": "dossier incomplet"}
        reason += " Inscription forcée (" + ", ".join(labels[k] for k in overrides) + ")."
    case.session_id = session_id
    advance(case, CaseStatus.ASSIGNED)
    case.assignment_reason = reason
    if "not_ready" in overrides:
        case.not_ready = []
    _registration_number(case)
    uow.session.flush()
    record_audit(uow, actor=actor, action="case.move_forced" if overrides else "case.move", entity="case",
                 entity_id=case_id, patient_id=case.patient_id,
                 detail={"from": previous, "to": session_id, "overrides": overrides,
                         "load_before": load, "capacity": session.capacity})
    uow.commit()
    return CaseMoveResult(case_id=case_id, from_session_id=previous, session_id=session_id, reason=reason,
                          overrides=overrides)


def confirm_attendance(uow: UnitOfWork, *, session_id: str, data: AttendanceInput, actor: str = "system") -> int:
    """Record who confirmed they will attend a planned session (present / remote / absent), before it is held.

    The session stays planned (open for assignment); from then on its confirmed specialties, not the
    board's member list, decide which cases needing a specialist may go there. Returns the rows stored.
    """
    session = uow.session.get(m.Session, session_id)
    if session is None:
        raise NotFound(f"Séance « {session_id} » introuvable.")
    if session.status != SessionStatus.PLANNED:
        raise Conflict("La séance n'est plus planifiée : enregistrez la présence effective.")
    _store_attendance(uow, session_id, data)
    record_audit(uow, actor=actor, action="session.confirm_attendance", entity="session", entity_id=session_id)
    uow.commit()
    return len(data.attendance)


def _store_attendance(uow: UnitOfWork, session_id: str, data: AttendanceInput) -> dict[str, m.Professional]:
    """Upsert one attendance row per professional of `data` (ValidationFailed naming unknown ones); returns
    the professionals by id."""
    profs = repo.professionals_by_ids(uow.session, list(data.attendance))
    unknown = set(data.attendance) - set(profs)
    if unknown:
        raise ValidationFailed(f"Professionnel(s) inconnu(s) : {', '.join(sorted(unknown))}.", field="attendance")
    # Two attendance writes of one session at once (PostgreSQL) would both insert the missing rows: the
    # session row, locked until commit, makes the second wait and then update them.
    from sqlalchemy import select

    uow.session.execute(select(m.Session.id).where(m.Session.id == session_id).with_for_update())
    existing = {a.professional_id: a for a in repo.attendance(uow.session, session_id)}
    for prof_id, mode in data.attendance.items():
        row = existing.get(prof_id)
        if row is None:
            uow.session.add(m.Attendance(session_id=session_id, professional_id=prof_id, mode=mode))
        else:
            row.mode = mode
    uow.session.flush()
    return profs


def _require_started(session: m.Session, now: datetime | None, refused: str) -> None:
    """Refuse (409, French, nothing written) an act of the meeting before the session starts.

    `now` is the real time (aware) the caller passes; None means the real time."""
    if not_started(session.starts_at, now or now_utc()):
        raise Conflict(f"La séance du {fr_datetime(session.starts_at)} n'a pas encore commencé : {refused}.",
                       field="session_id")


def record_attendance(uow: UnitOfWork, *, session_id: str, data: AttendanceInput, actor: str = "system",
                      now: datetime | None = None) -> str:
    """Record who attended (present / remote / absent); compute and store the quorum. Returns the status.

    Refused before the session starts (`now`: the real time; expected attendance is `confirm_attendance`)."""
    session = uow.session.get(m.Session, session_id)
    if session is None:
        raise NotFound(f"Séance « {session_id} » introuvable.")
    _require_started(session, now, "la présence ne peut pas être enregistrée")
    if session.status in (SessionStatus.VALIDATED, SessionStatus.CANCELLED):
        raise Conflict("La séance est déjà validée ou annulée : la présence ne peut plus changer.")
    board = uow.session.get(m.Board, session.board_id)
    assert board is not None
    profs = _store_attendance(uow, session_id, data)
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
    advance(session, SessionStatus.HELD)
    record_audit(uow, actor=actor, action="session.attendance", entity="session", entity_id=session_id)
    uow.commit()
    return result.status


def record_decision(uow: UnitOfWork, *, case_id: str, data: DecisionInput, actor: str = "system",
                    now: datetime | None = None) -> str:
    """Record the board's decision on a case; refused before its session starts (`now`: the real time)."""
    case = uow.session.get(m.Case, case_id)
    if case is None:
        raise NotFound(f"Dossier « {case_id} » introuvable.")
    if case.session_id != data.session_id:
        raise ValidationFailed("Ce dossier n'est pas inscrit à cette séance.", field="session_id")
    session = uow.session.get(m.Session, data.session_id)
    assert session is not None
    _require_started(session, now, "la décision ne peut pas être enregistrée")
    if session.status == SessionStatus.VALIDATED:
        raise Conflict("La séance est validée : ses décisions sont verrouillées.")
    codes.check(uow, [codes.CodedEntry("proposal_codes", "proposition de traitement", TREATMENTS, code)
                      for code in data.proposal_codes])
    entries = proposal_entries.resolve(uow, drugs=data.drug_codes, acts=data.act_codes)
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
    decision.proposal_entries = entries
    decision.conform_to_referential = data.conform_to_referential
    decision.departure_justification = data.departure_justification
    decision.trial_proposed = data.trial_proposed
    decision.trial_name = data.trial_name
    decision.comment = data.comment
    decision.quorum = session.quorum
    if data.referential_name:
        case.referential_name = data.referential_name
    advance(case, CaseStatus.DECIDED)
    uow.session.flush()
    record_audit(uow, actor=actor, action="decision.record", entity="case", entity_id=case_id,
                 patient_id=case.patient_id)
    uow.commit()
    return decision.id


@dataclass
class ValidationSummary:
    case_ids: list[str] = field(default_factory=list)  # cases whose documents are to be generated
    represented: list[str] = field(default_factory=list)  # new cases created to re-present without quorum
    moves: dict[str, CaseMove] = field(default_factory=dict)  # re-presented case id -> where it went
    represented_from: dict[str, str] = field(default_factory=dict)  # new case id -> the case it re-presents
    not_discussed: dict[str, CaseMove] = field(default_factory=dict)  # undecided case id -> where it went


NO_ATTENDANCE = "aucune présence enregistrée à la séance"
REPRESENTED = CaseStatus.REPRESENTED.value
"""Status of a case entry whose session had no quorum: a new entry (`represented_from_id`) re-presents it."""
_NOT_COPIED = frozenset({"id", "session_id", "status", "registration_number", "assignment_reason", "not_ready",
                         "created_at", "documents_missing", "earliest_date", "represented_from_id"})
"""Case columns a re-presentation does not copy (the clinical content and the request are copied)."""


def _undecided_message(uow: UnitOfWork, cases: Sequence[m.Case], when: date) -> str:
    from dcc.services.queries import display_name

    patients = repo.patients_by_ids(uow.session, [c.patient_id for c in cases])
    labels = [f"{display_name(patients[c.patient_id])} (n° {c.registration_number or c.id[:8].upper()})"
              for c in cases]
    return (f"{len(cases)} dossier(s) de la séance du {when:%d/%m/%Y} n'ont pas de décision : {', '.join(labels)}. "
            "Confirmez la validation : ces dossiers repasseront à l'affectation (prochaine séance possible de la "
            f"RCP, sinon en attente) avec le motif « Non discuté à la séance du {when:%d/%m/%Y} ».")


def validate_session(uow: UnitOfWork, *, session_id: str, today: date, confirm: bool = False,
                     actor: str = "system", now: datetime | None = None) -> ValidationSummary:
    """Lock the session's decisions; only a quorate session's decisions go on to their documents: one
    "documents due" row (`GenerationTask`) per decided case, in this transaction (no row if it fails), drained
    by `dcc.services.generation.generate_pending_documents`.

    Refused before the session starts (`now`: the real time).

    INCa (référentiel organisationnel RCP 2023; circulaire DHOS 2005): a valid RCP needs its quorum, and a
    file examined without it is re-presented. So without quorum — including a session validated without
    any recorded attendance — no decision of the session is a board decision: no Fiche RCP / PPS is
    generated; each decided case, discussed or registered (a standard case is ratified by the RCP, which a
    non-quorate meeting cannot do either), gets the status `represented` and a new case entry
    (`represented_from_id`, same clinical content) is assigned at once to the next suitable session of the
    board, keeping its priority (urgency weight + bonus, registration deadline waived), or stays pending.

    Cases without a decision are refused (`UndecidedCases`, 409, listing them) unless `confirm`: then each
    goes back to assignment (next suitable session, or pending) with the reason « Non discuté à la séance
    du … », audited.
    """
    session = uow.session.get(m.Session, session_id)
    if session is None:
        raise NotFound(f"Séance « {session_id} » introuvable.")
    _require_started(session, now, "elle ne peut pas être validée")
    if session.status == SessionStatus.VALIDATED:
        raise Conflict("La séance est déjà validée.")
    if session.status == SessionStatus.CANCELLED:
        raise Conflict("La séance est annulée : elle ne peut pas être validée.")
    board = uow.session.get(m.Board, session.board_id)
    assert board is not None
    when = session_date(session)
    cases = repo.cases_of_session(uow.session, session_id)
    decisions = repo.decisions_of_cases(uow.session, [c.id for c in cases])
    undecided = [c for c in cases if c.id not in decisions]
    if undecided and not confirm:
        raise UndecidedCases(_undecided_message(uow, undecided, when), case_ids=[c.id for c in undecided])
    if session.status == SessionStatus.PLANNED:  # attendance never recorded (expected attendance is not attendance)
        session.quorum, session.quorum_detail = "not_met", [NO_ATTENDANCE]
    elif session.quorum != "met":
        session.quorum = "not_met"  # at validation the attendance sheet is final
    quorate = session.quorum == "met"
    due_at = now_utc()  # due at once (the real time, whatever clock the validation is checked against)
    out = ValidationSummary()
    copies: list[m.Case] = []
    for case in cases:
        decision = decisions.get(case.id)
        if decision is None:
            continue
        decision.locked = True
        decision.quorum = session.quorum
        if quorate:  # its documents are due: a row in this transaction, drained by generate_pending_documents
            out.case_ids.append(case.id)
            uow.session.add(m.GenerationTask(case_id=case.id, session_id=session_id, board_id=board.id,
                                             state=GenerationState.PENDING.value, next_attempt_at=due_at))
            continue
        again = m.Case(**{col.key: getattr(case, col.key) for col in m.Case.__table__.columns
                          if col.key not in _NOT_COPIED})
        again.earliest_date = max(today, when + timedelta(days=1))
        again.represented_from_id = case.id
        advance(case, CaseStatus.REPRESENTED)
        uow.session.add(again)
        uow.session.flush()
        record_audit(uow, actor=actor, action="case.represent", entity="case", entity_id=again.id,
                     patient_id=again.patient_id, detail={"from_case": case.id, "session_id": session_id,
                                                          "case_status": decision.case_status})
        copies.append(again)
        out.represented.append(again.id)
        out.represented_from[again.id] = case.id
    advance(session, SessionStatus.VALIDATED)
    uow.session.flush()
    out.moves = _reassign(uow, board, copies, today=today, exclude=[session_id],
                          why=f"Représenté : quorum non atteint à la séance du {when:%d/%m/%Y}.", actor=actor,
                          after=session.starts_at)
    for case in undecided:
        record_audit(uow, actor=actor, action="case.not_discussed", entity="case", entity_id=case.id,
                     patient_id=case.patient_id, detail={"session_id": session_id})
    out.not_discussed = _reassign(uow, board, undecided, today=today, exclude=[session_id],
                                  why=f"Non discuté à la séance du {when:%d/%m/%Y}.", actor=actor,
                                  after=session.starts_at)
    record_audit(uow, actor=actor, action="session.validate", entity="session", entity_id=session_id,
                 detail={"quorum": session.quorum, "represented": len(copies), "not_discussed": len(undecided)})
    uow.commit()
    return out
