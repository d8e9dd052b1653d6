from collections import Counter
from datetime import date, timedelta
from itertools import product

from hypothesis import given, settings
from hypothesis import strategies as st

from dcc.domain.assignment import (
    CaseDemand,
    SessionSupply,
    assign,
    greedy_assign,
    reassign_after_cancellation,
    solve_with_side_constraints,
)
from dcc.domain.quorum import CHIRURGIE_THORACIQUE, CHIRURGIEN, ONCOLOGIE_MEDICALE
from tests.domain.exact_lp import lp_optimum

TODAY = date(2025, 3, 3)  # a Monday
PENALTY = 100


def day(n: int) -> date:
    return TODAY + timedelta(days=n)


def case(cid, weight=1, earliest=0, deadline=None, organ="thorax", required=(), tags=()):
    return CaseDemand(
        cid,
        weight,
        day(earliest),
        day(deadline) if deadline is not None else None,
        "organe",
        organ,
        frozenset(required),
        frozenset(tags),
    )


def session(
    sid, when, capacity=2, reg=None, organ="thorax", present=(CHIRURGIE_THORACIQUE, ONCOLOGIE_MEDICALE)
):
    return SessionSupply(
        sid,
        f"RCP {organ}",
        "organe",
        organ,
        day(when),
        day(reg if reg is not None else when - 2),
        capacity,
        frozenset(present),
    )


def test_capacity_is_respected_and_urgent_case_goes_first():
    cases = [case("a"), case("b"), case("u", weight=10)]
    sessions = [session("s1", 7, capacity=2), session("s2", 14, capacity=2)]
    result = assign(cases, sessions, today=TODAY)
    assert Counter(result.assignment.values())["s1"] == 2
    assert result.assignment["u"] == "s1"
    assert result.objective == 10 * 7 + 7 + 14


def test_registration_deadline_passed():
    result = assign([case("a")], [session("s1", 2, reg=-1), session("s2", 9)], today=TODAY)
    assert result.assignment["a"] == "s2"


def test_earliest_date():
    result = assign([case("a", earliest=5)], [session("s1", 3), session("s2", 9)], today=TODAY)
    assert result.assignment["a"] == "s2"
    assert result.objective == 4


def test_urgency_deadline_leaves_case_unassigned_with_reason():
    result = assign(
        [case("a", weight=5, deadline=6)], [session("s1", 9)], today=TODAY, unassigned_penalty=PENALTY
    )
    assert result.assignment["a"] is None
    assert result.objective == PENALTY
    assert "date limite" in result.reasons["a"]


def test_required_specialist():
    sessions = [session("s1", 7, present=(ONCOLOGIE_MEDICALE,)), session("s2", 14)]
    result = assign(
        [case("a", required={CHIRURGIE_THORACIQUE}), case("b", required={CHIRURGIEN})], sessions, today=TODAY
    )
    assert result.assignment == {"a": "s2", "b": "s2"}
    assert "chirurgien thoracique" in result.reasons["a"]


def test_other_organ_never_matches():
    result = assign([case("a", organ="sein")], [session("s1", 7)], today=TODAY)
    assert result.assignment["a"] is None
    assert "Aucune séance" in result.reasons["a"]


def test_reason_when_earlier_sessions_are_full():
    result = assign(
        [case("a", weight=3), case("b")], [session("s1", 7, capacity=1), session("s2", 14)], today=TODAY
    )
    assert result.assignment == {"a": "s1", "b": "s2"}
    assert "complètes" in result.reasons["b"]
    assert "première séance compatible" in result.reasons["a"]


def test_balance_between_sessions_on_the_same_day():
    cases = [case(str(i)) for i in range(4)]
    sessions = [session("x", 7, capacity=4), session("y", 7, capacity=4)]
    result = assign(cases, sessions, today=TODAY)
    assert Counter(result.assignment.values()) == {"x": 2, "y": 2}


def test_reassign_after_cancellation_keeps_priority():
    displaced = [case("d1", earliest=-10)]
    pending = [case("p1", earliest=0)]
    sessions = [session("cancelled", 7), session("next", 9, capacity=2, reg=7), session("later", 16)]
    result = reassign_after_cancellation(
        displaced, sessions, today=day(8), cancelled={"cancelled"}, booked={"next": 1}, pending=pending
    )
    assert result.assignment["d1"] == "next"  # registration closed, but the case was registered already
    assert result.assignment["p1"] == "later"
    assert result.reasons["d1"].startswith("Report")


# ----------------------------------------------------------------------------- brute force

ORGANS = ["thorax", "sein"]
SPECS = [CHIRURGIE_THORACIQUE, ONCOLOGIE_MEDICALE]


@st.composite
def instances(draw):
    n_cases = draw(st.integers(1, 6))
    n_sessions = draw(st.integers(1, 3))
    cases = []
    for i in range(n_cases):
        earliest = draw(st.integers(-3, 10))
        deadline = draw(st.one_of(st.none(), st.integers(earliest, earliest + 10)))
        cases.append(
            case(
                f"c{i}",
                draw(st.integers(1, 5)),
                earliest,
                deadline,
                draw(st.sampled_from(ORGANS)),
                draw(st.sets(st.sampled_from(SPECS), max_size=1)),
                draw(st.sets(st.sampled_from(["long"]), max_size=1)),
            )
        )
    sessions = []
    for j in range(n_sessions):
        when = draw(st.integers(0, 14))
        sessions.append(
            session(
                f"s{j}",
                when,
                draw(st.integers(0, 3)),
                when - draw(st.integers(0, 3)),
                draw(st.sampled_from(ORGANS)),
                draw(st.sets(st.sampled_from(SPECS))),
            )
        )
    return cases, sessions


def compatible(c: CaseDemand, s: SessionSupply) -> bool:
    return (
        c.organ == s.organ
        and c.board_kind == s.board_kind
        and s.date >= TODAY
        and s.date >= c.earliest
        and (c.deadline is None or s.date <= c.deadline)
        and s.registration_deadline >= TODAY
        and c.required_specialties <= s.specialties_present
    )


def brute_force(cases, sessions, *, max_per_session=None, same_session=()):
    best = None
    for choice in product([None, *sessions], repeat=len(cases)):
        if any(s is not None and not compatible(c, s) for c, s in zip(cases, choice, strict=True)):
            continue
        load = Counter(s.id for s in choice if s is not None)
        if any(load[s.id] > s.capacity for s in sessions):
            continue
        by_id = {c.id: s for c, s in zip(cases, choice, strict=True)}
        if any(by_id[a] is not by_id[b] for a, b in same_session):
            continue
        if max_per_session and any(
            sum(1 for c, t in zip(cases, choice, strict=True) if t is s and tag in c.tags) > k
            for s in sessions
            for tag, k in max_per_session.items()
        ):
            continue
        pairs = zip(cases, choice, strict=True)
        cost = sum(PENALTY if s is None else c.weight * (s.date - c.earliest).days for c, s in pairs)
        best = cost if best is None else min(best, cost)
    return best


def check_feasible(result, cases, sessions):
    by_id = {s.id: s for s in sessions}
    for c in cases:
        sid = result.assignment[c.id]
        assert sid is None or compatible(c, by_id[sid])
    load = Counter(sid for sid in result.assignment.values() if sid is not None)
    assert all(load[s.id] <= s.capacity for s in sessions)


@settings(max_examples=200, deadline=None)
@given(instances())
def test_flow_matches_brute_force_and_beats_greedy(instance):
    cases, sessions = instance
    result = assign(cases, sessions, today=TODAY, unassigned_penalty=PENALTY)
    check_feasible(result, cases, sessions)
    assert result.objective == brute_force(cases, sessions)
    greedy = greedy_assign(cases, sessions, today=TODAY, unassigned_penalty=PENALTY)
    check_feasible(greedy, cases, sessions)
    assert result.objective <= greedy.objective


@settings(max_examples=40, deadline=None)
@given(instances(), st.integers(0, 2), st.booleans())
def test_cp_sat_with_side_constraints_matches_brute_force(instance, limit, pair):
    cases, sessions = instance
    same = [(cases[0].id, cases[1].id)] if pair and len(cases) > 1 else []
    result = solve_with_side_constraints(
        cases,
        sessions,
        today=TODAY,
        max_per_session={"long": limit},
        same_session=same,
        unassigned_penalty=PENALTY,
        time_limit_seconds=20,
    )
    check_feasible(result, cases, sessions)
    for a, b in same:
        assert result.assignment[a] == result.assignment[b]
    for s in sessions:
        assert sum(1 for c in cases if result.assignment[c.id] == s.id and "long" in c.tags) <= limit
    assert result.objective == brute_force(
        cases, sessions, max_per_session={"long": limit}, same_session=same
    )
    assert result.gap == 0.0


def lp_of(cases, sessions):
    cost = {(c.id, s.id): c.weight * (s.date - c.earliest).days
            for c in cases for s in sessions if compatible(c, s)}
    return lp_optimum([c.id for c in cases], {s.id: s.capacity for s in sessions}, cost, PENALTY)


@settings(max_examples=200, deadline=None)
@given(instances())
def test_flow_matches_an_independent_lp(instance):
    cases, sessions = instance
    result = assign(cases, sessions, today=TODAY, unassigned_penalty=PENALTY)
    assert result.objective == lp_of(cases, sessions)


def test_flow_matches_the_lp_on_a_larger_instance():
    cases = [case(f"c{i}", weight=1 + i % 4, earliest=i % 9, deadline=None if i % 5 else i % 9 + 12,
                  organ=("thorax", "sein")[i % 2]) for i in range(120)]
    sessions = [session(f"s{j}", 2 + j, capacity=j % 5, organ=("thorax", "sein")[j % 3 % 2]) for j in range(30)]
    result = assign(cases, sessions, today=TODAY, unassigned_penalty=PENALTY)
    check_feasible(result, cases, sessions)
    assert result.objective == lp_of(cases, sessions)


@settings(max_examples=40, deadline=None)
@given(instances())
def test_cp_sat_without_side_constraints_equals_flow(instance):
    cases, sessions = instance
    flow = assign(cases, sessions, today=TODAY, unassigned_penalty=PENALTY)
    sat = solve_with_side_constraints(cases, sessions, today=TODAY, unassigned_penalty=PENALTY)
    assert (sat.objective, sat.balance) == (flow.objective, flow.balance)
