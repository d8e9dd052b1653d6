"""Assignment of pending cases to board sessions.

The core is a transportation (b-matching) problem, solved exactly as a min-cost flow
(OR-Tools `SimpleMinCostFlow`):

    case --(1, w*wait*M)--> session --(1, k) for its k-th place--> sink
    case --(1, P*M)-------------------------------------------> sink   (left unassigned)

* primary objective: sum over assigned cases of urgency weight x waiting days (session date - earliest
  date), plus the stated penalty P per unassigned case;
* secondary objective (balance): the k-th place of a session costs k, so sessions on the same date
  fill evenly. Primary costs are multiplied by M = (largest possible secondary total) + 1, so the
  primary objective stays lexicographically first.

The flow is solved to optimality and the linear relaxation of a network problem is integral, so the
optimum of the flow IS the optimum of the assignment problem: the reported lower bound equals the
objective and the gap is 0. That is a property of the model, not an estimate.

Side constraints a flow cannot express (at most K cases with a tag per session, pairs of cases that
must share a session) go through `solve_with_side_constraints` (CP-SAT); there the lower bound and
gap are the ones CP-SAT proves.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from datetime import date as _date
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from ortools.graph.python import min_cost_flow
from ortools.sat.python import cp_model

from dcc.domain.quorum import expand_specialties, requirement_label
from dcc.errors import ValidationFailed

DEFAULT_UNASSIGNED_PENALTY = 1000
"""Cost of leaving a case without a session, in weight x days (above any weight x horizon we use)."""

NO_DEADLINE = np.iinfo(np.int32).max
Method = Literal["flow", "greedy", "cp-sat"]


@dataclass(frozen=True)
class CaseDemand:
    id: str
    weight: int  # urgency weight, >= 1
    earliest: date
    deadline: date | None  # urgent cases must be discussed by this date
    board_kind: str
    organ: str
    required_specialties: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()  # for side constraints (e.g. "recours", "long")
    carried_over: bool = False  # displaced from a cancelled session: already registered


@dataclass(frozen=True)
class SessionSupply:
    id: str
    board: str
    board_kind: str
    organ: str
    date: _date  # the field shadows the type name inside the class body
    registration_deadline: _date
    capacity: int
    specialties_present: frozenset[str] = frozenset()


@dataclass
class AssignmentResult:
    assignment: dict[str, str | None]
    objective: int  # primary: sum weight x waiting days + penalty x unassigned
    lower_bound: int
    gap: float
    reasons: dict[str, str]
    seconds: float
    unassigned_penalty: int
    method: Method
    waiting: int = 0  # sum weight x waiting days over assigned cases
    balance: int = 0  # secondary objective: sum over sessions of 0 + 1 + ... + (load - 1)
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def unassigned(self) -> list[str]:
        return [cid for cid, sid in self.assignment.items() if sid is None]


# ------------------------------------------------------------------------------------------ instance


def _flat_ranges(lo: NDArray[np.int64], hi: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenation of arange(lo[k], hi[k]) over k, vectorised."""
    counts = np.maximum(hi - lo, 0)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(counts) - counts
    return np.repeat(lo - offsets, counts) + np.arange(total, dtype=np.int64)


@dataclass
class _Instance:
    """Arrays over cases and sessions, and compatibility.

    Cases sharing a "key" (board kind and organ, required specialties, carried-over flag) see the same
    sessions: `key_sessions[k]` lists them in date order, and case i may go to
    `key_sessions[key[i]][lo[i]:hi[i]]` (dates between its earliest date and its deadline).
    """

    cases: Sequence[CaseDemand]
    sessions: Sequence[SessionSupply]
    weight: NDArray[np.int64]
    earliest: NDArray[np.int64]
    has_deadline: NDArray[np.bool_]
    s_date: NDArray[np.int64]
    capacity: NDArray[np.int64]
    key: NDArray[np.int64]
    lo: NDArray[np.int64]
    hi: NDArray[np.int64]
    key_sessions: list[NDArray[np.int64]]

    @cached_property
    def members(self) -> list[NDArray[np.int64]]:
        """Case indices per key."""
        order = np.argsort(self.key, kind="stable")
        bounds = np.searchsorted(self.key[order], np.arange(len(self.key_sessions) + 1))
        return [order[bounds[k] : bounds[k + 1]] for k in range(len(self.key_sessions))]

    @cached_property
    def arcs(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Every compatible (case, session) pair, grouped by case, sessions in date order."""
        parts_c: list[NDArray[np.int64]] = [np.zeros(0, dtype=np.int64)]
        parts_s: list[NDArray[np.int64]] = [np.zeros(0, dtype=np.int64)]
        for span, members in zip(self.key_sessions, self.members, strict=True):
            counts = np.maximum(self.hi[members] - self.lo[members], 0)
            parts_c.append(np.repeat(members, counts))
            parts_s.append(span[_flat_ranges(self.lo[members], self.hi[members])])
        arc_case, arc_session = np.concatenate(parts_c), np.concatenate(parts_s)
        order = np.argsort(arc_case, kind="stable")
        return arc_case[order], arc_session[order]

    def first_compatible_date(self) -> NDArray[np.int64]:
        first = np.full(len(self.cases), NO_DEADLINE, dtype=np.int64)
        for i in np.flatnonzero(self.hi > self.lo):
            first[i] = self.s_date[self.key_sessions[self.key[i]][self.lo[i]]]
        return first


def _validate(cases: Sequence[CaseDemand], sessions: Sequence[SessionSupply]) -> None:
    if len({c.id for c in cases}) != len(cases):
        raise ValidationFailed("Un même dossier apparaît deux fois dans la liste à affecter.", field="cases")
    if len({s.id for s in sessions}) != len(sessions):
        raise ValidationFailed("Une même séance apparaît deux fois.", field="sessions")
    for c in cases:
        if c.weight < 1:
            raise ValidationFailed(
                f"Le poids d'urgence du dossier {c.id} doit être au moins 1.", field="weight"
            )
    for s in sessions:
        if s.capacity < 0:
            raise ValidationFailed(f"La capacité de la séance {s.id} est négative.", field="capacity")


def _build(cases: Sequence[CaseDemand], sessions: Sequence[SessionSupply], today: date) -> _Instance:
    _validate(cases, sessions)
    weight = np.array([c.weight for c in cases], dtype=np.int64)
    earliest = np.array([c.earliest.toordinal() for c in cases], dtype=np.int64)
    deadline = np.array(
        [c.deadline.toordinal() if c.deadline else NO_DEADLINE for c in cases], dtype=np.int64
    )
    s_date = np.array([s.date.toordinal() for s in sessions], dtype=np.int64)
    capacity = np.array([s.capacity for s in sessions], dtype=np.int64)
    usable = [s.date >= today and s.capacity > 0 for s in sessions]
    present = [expand_specialties(s.specialties_present) for s in sessions]

    by_group: dict[tuple[str, str], list[int]] = defaultdict(list)
    for j in sorted(range(len(sessions)), key=lambda j: (s_date[j], j)):
        if usable[j]:
            by_group[(sessions[j].board_kind, sessions[j].organ)].append(j)
    keys: dict[tuple[str, str, frozenset[str], bool], int] = {}
    key = np.array(
        [
            keys.setdefault((c.board_kind, c.organ, c.required_specialties, c.carried_over), len(keys))
            for c in cases
        ],
        dtype=np.int64,
    )
    key_sessions: list[NDArray[np.int64]] = []
    for kind, organ, required, carried in keys:
        key_sessions.append(
            np.array(
                [
                    j
                    for j in by_group.get((kind, organ), [])
                    if required <= present[j] and (carried or sessions[j].registration_deadline >= today)
                ],
                dtype=np.int64,
            )
        )
    lo = np.zeros(len(cases), dtype=np.int64)
    hi = np.zeros(len(cases), dtype=np.int64)
    order = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[order], np.arange(len(keys) + 1))
    for k, span in enumerate(key_sessions):
        members = order[bounds[k] : bounds[k + 1]]
        dates = s_date[span]
        lo[members] = np.searchsorted(dates, earliest[members], side="left")
        hi[members] = np.searchsorted(dates, deadline[members], side="right")
    return _Instance(
        cases,
        sessions,
        weight,
        earliest,
        deadline != NO_DEADLINE,
        s_date,
        capacity,
        key,
        lo,
        hi,
        key_sessions,
    )


# ---------------------------------------------------------------------------------- objective, reasons


def _place_costs_bound(capacity: NDArray[np.int64]) -> int:
    """Largest possible secondary total: every session full, place k costing k."""
    return int((capacity * (capacity - 1) // 2).sum())


def _evaluate(inst: _Instance, chosen: NDArray[np.int64], penalty: int) -> tuple[int, int, int]:
    """(objective, waiting, balance) of an assignment given as a session index per case (-1: none)."""
    assigned = chosen >= 0
    waiting = int((inst.weight[assigned] * (inst.s_date[chosen[assigned]] - inst.earliest[assigned])).sum())
    loads = np.bincount(chosen[assigned], minlength=len(inst.sessions)).astype(np.int64)
    balance = int((loads * (loads - 1) // 2).sum())
    return waiting + penalty * int((~assigned).sum()), waiting, balance


def _fr(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def _with_specialists(case: CaseDemand) -> str:
    if not case.required_specialties:
        return ""
    labels = sorted(requirement_label(r) for r in case.required_specialties)
    return " et " + ", ".join(labels) + (" confirmé" if len(labels) == 1 else " confirmés")


def _assigned_reason(case: CaseDemand, session: SessionSupply, first_compatible: int) -> str:
    where = f"Séance du {_fr(session.date)} ({session.board})"
    if session.date.toordinal() <= first_compatible:
        return f"{where} : première séance compatible avec de la place{_with_specialists(case)}."
    return (
        f"{where} : première séance avec de la place{_with_specialists(case)} ; "
        f"les séances compatibles plus proches (dès le {_fr(date.fromordinal(first_compatible))}) "
        "étaient complètes."
    )


def _no_arc_reason(case: CaseDemand, sessions: Sequence[SessionSupply], today: date) -> str:
    pool = [
        s
        for s in sessions
        if (s.board_kind, s.organ) == (case.board_kind, case.organ) and s.date >= today and s.capacity > 0
    ]
    if not pool:
        return f"Aucune séance de RCP {case.board_kind} / {case.organ} dans l'horizon."
    pool = [s for s in pool if s.date >= case.earliest]
    if not pool:
        return f"Aucune séance après la date au plus tôt du {_fr(case.earliest)}."
    if case.deadline is not None:
        pool = [s for s in pool if s.date <= case.deadline]
        if not pool:
            return f"Aucune séance avant la date limite d'urgence du {_fr(case.deadline)}."
    if not case.carried_over:
        pool = [s for s in pool if s.registration_deadline >= today]
        if not pool:
            return "Les inscriptions sont closes pour toutes les séances possibles."
    labels = ", ".join(sorted(requirement_label(r) for r in case.required_specialties))
    return f"Aucune séance possible avec les spécialistes requis confirmés ({labels})."


def _reasons(inst: _Instance, chosen: NDArray[np.int64], today: date, penalty: int) -> dict[str, str]:
    first = inst.first_compatible_date()
    loads = np.bincount(chosen[chosen >= 0], minlength=len(inst.sessions))
    has_arc = inst.hi > inst.lo
    arc_case, arc_session = inst.arcs
    spare = loads[arc_session] < inst.capacity[arc_session]
    has_spare = np.zeros(len(inst.cases), dtype=bool)
    has_spare[arc_case[spare]] = True
    out: dict[str, str] = {}
    for i, case in enumerate(inst.cases):
        j = int(chosen[i])
        if j >= 0:
            out[case.id] = _assigned_reason(case, inst.sessions[j], int(first[i]))
        elif not has_arc[i]:
            out[case.id] = "Non affecté : " + _no_arc_reason(case, inst.sessions, today)
        elif has_spare[i]:
            out[case.id] = (
                f"Non affecté : l'attente pondérée dépasserait la pénalité de non-affectation ({penalty})."
            )
        else:
            out[case.id] = "Non affecté : toutes les séances compatibles sont complètes."
    return out


def _result(
    inst: _Instance,
    chosen: NDArray[np.int64],
    *,
    today: date,
    penalty: int,
    method: Method,
    lower_bound: int | None,
    started: float,
    with_reasons: bool,
) -> AssignmentResult:
    objective, waiting, balance = _evaluate(inst, chosen, penalty)
    bound = objective if lower_bound is None else lower_bound
    assignment = {
        c.id: (inst.sessions[j].id if j >= 0 else None)
        for c, j in zip(inst.cases, chosen.tolist(), strict=True)
    }
    reasons = _reasons(inst, chosen, today, penalty) if with_reasons else {}
    return AssignmentResult(
        assignment=assignment,
        objective=objective,
        lower_bound=bound,
        gap=(objective - bound) / objective if objective else 0.0,
        reasons=reasons,
        seconds=time.perf_counter() - started,
        unassigned_penalty=penalty,
        method=method,
        waiting=waiting,
        balance=balance,
        stats={
            "cases": len(inst.cases),
            "sessions": len(inst.sessions),
            "compatible_pairs": int(np.maximum(inst.hi - inst.lo, 0).sum()),
        },
    )


# -------------------------------------------------------------------------------------- min-cost flow


@dataclass
class _Classes:
    """Identical cases (same key, weight, earliest date and last compatible session) become one node."""

    rep: NDArray[np.int64]  # one case per class
    count: NDArray[np.int64]
    members: list[NDArray[np.int64]]

    @classmethod
    def of(cls, inst: _Instance) -> _Classes:
        table = np.stack(
            [inst.key, inst.weight, inst.earliest, inst.hi, inst.has_deadline.astype(np.int64)], 1
        )
        _, rep, inverse, count = np.unique(
            table, axis=0, return_index=True, return_inverse=True, return_counts=True
        )
        order = np.argsort(inverse.ravel(), kind="stable")
        members = np.split(order, np.cumsum(count)[:-1])
        return cls(rep.astype(np.int64), count.astype(np.int64), members)


@dataclass
class _Chain:
    """A time line for the classes of one key and one weight, without deadline.

    Instead of one arc per (case, session) pair, a case enters the chain at its first compatible date
    and flows along it (w x days between consecutive dates) until it leaves towards a session. A path
    costs exactly w x (session date - earliest date), so the network is equivalent and far smaller.
    """

    key: int
    weight: int
    classes: NDArray[np.int64]
    dates: NDArray[np.int64]  # distinct dates of the key's sessions
    exit_arcs: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    exit_sessions: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    exit_positions: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    entry_arcs: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    entry_positions: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


class _Network:
    """Nodes: classes, then sessions, then the sink, then chain nodes."""

    def __init__(self, n_classes: int, n_sessions: int) -> None:
        self.smcf = min_cost_flow.SimpleMinCostFlow()
        self.n, self.m = n_classes, n_sessions
        self.sink = n_classes + n_sessions
        self.next_node = self.sink + 1

    def nodes(self, count: int) -> NDArray[np.int64]:
        first = self.next_node
        self.next_node += count
        return first + np.arange(count, dtype=np.int64)

    def arcs(
        self,
        tails: NDArray[np.int64],
        heads: NDArray[np.int64],
        caps: NDArray[np.int64] | int,
        costs: NDArray[np.int64] | int,
    ) -> NDArray[np.int64]:
        size = len(tails)
        if size == 0:
            return np.zeros(0, dtype=np.int64)
        cap_arr = np.broadcast_to(np.asarray(caps, dtype=np.int64), (size,)).copy()
        cost_arr = np.broadcast_to(np.asarray(costs, dtype=np.int64), (size,)).copy()
        return np.asarray(
            self.smcf.add_arcs_with_capacity_and_unit_cost(
                tails.astype(np.int32), heads.astype(np.int32), cap_arr, cost_arr
            ),
            dtype=np.int64,
        )

    def flows(self, arcs: NDArray[np.int64]) -> NDArray[np.int64]:
        if len(arcs) == 0:
            return np.zeros(0, dtype=np.int64)
        return np.asarray(self.smcf.flows(arcs), dtype=np.int64)


def _chains(inst: _Instance, cls: _Classes) -> list[_Chain]:
    rep = cls.rep
    eligible = np.flatnonzero((inst.hi[rep] > inst.lo[rep]) & ~inst.has_deadline[rep])
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for c, k, w in zip(
        eligible.tolist(), inst.key[rep[eligible]].tolist(), inst.weight[rep[eligible]].tolist(), strict=True
    ):
        groups[(k, w)].append(c)
    return [
        _Chain(k, w, np.array(classes, dtype=np.int64), np.unique(inst.s_date[inst.key_sessions[k]]))
        for (k, w), classes in groups.items()
    ]


def _add_chain(net: _Network, inst: _Instance, cls: _Classes, chain: _Chain, scale: int) -> None:
    span = inst.key_sessions[chain.key]
    nodes = net.nodes(len(chain.dates))
    net.arcs(nodes[:-1], nodes[1:], net.n + int(cls.count.sum()), chain.weight * np.diff(chain.dates) * scale)
    chain.exit_positions = np.searchsorted(chain.dates, inst.s_date[span])
    chain.exit_sessions = span
    chain.exit_arcs = net.arcs(nodes[chain.exit_positions], net.n + span, int(cls.count.sum()), 0)
    rep = cls.rep[chain.classes]
    entry_dates = inst.s_date[span[inst.lo[rep]]]
    chain.entry_positions = np.searchsorted(chain.dates, entry_dates)
    chain.entry_arcs = net.arcs(
        chain.classes,
        nodes[chain.entry_positions],
        cls.count[chain.classes],
        chain.weight * (entry_dates - inst.earliest[rep]) * scale,
    )


def _direct_arcs(
    net: _Network, inst: _Instance, cls: _Classes, scale: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Classes with a deadline get one arc per compatible session: (arcs, class, session)."""
    classes = np.flatnonzero(inst.has_deadline[cls.rep])
    rep = cls.rep[classes]
    parts_c, parts_s = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for k in np.unique(inst.key[rep]).tolist():
        sel = classes[inst.key[rep] == k]
        r = cls.rep[sel]
        parts_c.append(np.repeat(sel, np.maximum(inst.hi[r] - inst.lo[r], 0)))
        parts_s.append(inst.key_sessions[k][_flat_ranges(inst.lo[r], inst.hi[r])])
    arc_class, arc_session = np.concatenate(parts_c), np.concatenate(parts_s)
    r = cls.rep[arc_class]
    costs = inst.weight[r] * (inst.s_date[arc_session] - inst.earliest[r]) * scale
    return net.arcs(arc_class, net.n + arc_session, cls.count[arc_class], costs), arc_class, arc_session


def _unwind_chain(
    chain: _Chain,
    cls: _Classes,
    entry_flow: NDArray[np.int64],
    exit_flow: NDArray[np.int64],
    chosen: NDArray[np.int64],
) -> None:
    """Decompose a chain's flow into case -> session, first in first out (any order costs the same)."""
    entering: list[list[int]] = [[] for _ in chain.dates]
    for c, pos, f in zip(
        chain.classes.tolist(), chain.entry_positions.tolist(), entry_flow.tolist(), strict=True
    ):
        entering[pos].extend(cls.members[c][:f].tolist())
    exits: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for pos, session, f in zip(
        chain.exit_positions.tolist(), chain.exit_sessions.tolist(), exit_flow.tolist(), strict=True
    ):
        if f:
            exits[pos].append((session, f))
    queue: deque[int] = deque()
    for pos, newcomers in enumerate(entering):
        queue.extend(sorted(newcomers))
        for session, f in exits.get(pos, []):
            for _ in range(f):
                chosen[queue.popleft()] = session


def _place_arcs(net: _Network, capacity: NDArray[np.int64]) -> None:
    """Session -> sink, one unit arc per place, the k-th place of a session costing k (balance)."""
    place_session = np.repeat(np.arange(len(capacity), dtype=np.int64), capacity)
    starts = np.cumsum(capacity) - capacity
    place_rank = np.arange(len(place_session), dtype=np.int64) - np.repeat(starts, capacity)
    net.arcs(net.n + place_session, np.full(len(place_session), net.sink), 1, place_rank)


def _solve_flow(inst: _Instance, penalty: int) -> NDArray[np.int64]:
    cls = _Classes.of(inst)
    n_classes, n = len(cls.rep), len(inst.cases)
    scale = _place_costs_bound(inst.capacity) + 1
    net = _Network(n_classes, len(inst.sessions))
    chains = _chains(inst, cls)
    for chain in chains:
        _add_chain(net, inst, cls, chain, scale)
    direct, d_class, d_session = _direct_arcs(net, inst, cls, scale)
    _place_arcs(net, inst.capacity)
    net.arcs(np.arange(n_classes, dtype=np.int64), np.full(n_classes, net.sink), cls.count, penalty * scale)
    supplies = np.zeros(net.next_node, dtype=np.int64)
    supplies[:n_classes] = cls.count
    supplies[net.sink] = -n
    net.smcf.set_nodes_supplies(np.arange(net.next_node, dtype=np.int32), supplies)
    status = net.smcf.solve()
    if status != net.smcf.OPTIMAL:
        raise RuntimeError(f"min-cost flow not solved to optimality: status {status}")
    chosen = np.full(n, -1, dtype=np.int64)
    taken = np.zeros(n_classes, dtype=np.int64)
    for c, j, f in zip(d_class.tolist(), d_session.tolist(), net.flows(direct).tolist(), strict=True):
        if f:
            chosen[cls.members[c][taken[c] : taken[c] + f]] = j
            taken[c] += f
    for chain in chains:
        _unwind_chain(chain, cls, net.flows(chain.entry_arcs), net.flows(chain.exit_arcs), chosen)
    return chosen


def assign(
    cases: Sequence[CaseDemand],
    sessions: Sequence[SessionSupply],
    *,
    today: date,
    unassigned_penalty: int = DEFAULT_UNASSIGNED_PENALTY,
    with_reasons: bool = True,
) -> AssignmentResult:
    """Optimal assignment (min-cost flow). lower_bound == objective: the flow optimum is exact."""
    started = time.perf_counter()
    inst = _build(cases, sessions, today)
    chosen = _solve_flow(inst, unassigned_penalty)
    return _result(
        inst,
        chosen,
        today=today,
        penalty=unassigned_penalty,
        method="flow",
        lower_bound=None,
        started=started,
        with_reasons=with_reasons,
    )


# --------------------------------------------------------------------------------------------- greedy


def _urgency_order(cases: Sequence[CaseDemand]) -> list[int]:
    def key(i: int) -> tuple[int, int, int, str]:
        c = cases[i]
        deadline = c.deadline.toordinal() if c.deadline else NO_DEADLINE
        return (-c.weight, deadline, c.earliest.toordinal(), c.id)

    return sorted(range(len(cases)), key=key)


def greedy_assign(
    cases: Sequence[CaseDemand],
    sessions: Sequence[SessionSupply],
    *,
    today: date,
    unassigned_penalty: int = DEFAULT_UNASSIGNED_PENALTY,
    with_reasons: bool = True,
) -> AssignmentResult:
    """Baseline: in urgency order, each case takes the earliest compatible session with a free place."""
    started = time.perf_counter()
    inst = _build(cases, sessions, today)
    arc_case, arc_sessions = inst.arcs
    bounds = np.searchsorted(arc_case, np.arange(len(cases) + 1)).tolist()
    remaining = inst.capacity.copy().tolist()
    arc_session = arc_sessions.tolist()
    chosen = np.full(len(cases), -1, dtype=np.int64)
    for i in _urgency_order(cases):
        for j in arc_session[bounds[i] : bounds[i + 1]]:
            if remaining[j] > 0:
                remaining[j] -= 1
                chosen[i] = j
                break
    result = _result(
        inst,
        chosen,
        today=today,
        penalty=unassigned_penalty,
        method="greedy",
        lower_bound=None,
        started=started,
        with_reasons=with_reasons,
    )
    result.lower_bound = 0  # a greedy proves nothing
    result.gap = 1.0 if result.objective else 0.0
    return result


# ----------------------------------------------------------------------------------- CP-SAT (side)


def solve_with_side_constraints(
    cases: Sequence[CaseDemand],
    sessions: Sequence[SessionSupply],
    *,
    today: date,
    max_per_session: Mapping[str, int] | None = None,
    same_session: Sequence[tuple[str, str]] = (),
    unassigned_penalty: int = DEFAULT_UNASSIGNED_PENALTY,
    time_limit_seconds: float = 30.0,
    num_workers: int = 8,
) -> AssignmentResult:
    """Same objective as `assign`, plus constraints a flow cannot express, solved with CP-SAT.

    `max_per_session`: tag -> at most that many cases carrying the tag in any session.
    `same_session`: pairs of case ids that go to the same session (or both stay unassigned).
    Meant for small instances (one board, a few weeks).
    """
    started = time.perf_counter()
    inst = _build(cases, sessions, today)
    index = {c.id: i for i, c in enumerate(cases)}
    for a, b in same_session:
        if a not in index or b not in index:
            raise ValidationFailed(
                f"Dossier inconnu dans la contrainte « même séance » : {a}, {b}.", field="same_session"
            )
    scale = _place_costs_bound(inst.capacity) + 1
    model = cp_model.CpModel()
    arc_case, arc_session = inst.arcs
    pairs = list(zip(arc_case.tolist(), arc_session.tolist(), strict=True))
    x = {(i, j): model.new_bool_var(f"x_{i}_{j}") for i, j in pairs}
    unassigned = [model.new_bool_var(f"u_{i}") for i in range(len(cases))]
    by_case: dict[int, list[cp_model.IntVar]] = defaultdict(list)
    by_session: dict[int, list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
    for (i, j), var in x.items():
        by_case[i].append(var)
        by_session[j].append((i, var))
    for i in range(len(cases)):
        model.add_exactly_one([*by_case[i], unassigned[i]])
    place_terms: list[tuple[cp_model.IntVar, int]] = []
    for j in range(len(sessions)):
        cap = int(inst.capacity[j])
        members = by_session.get(j, [])
        if not members:
            continue
        places = [model.new_bool_var(f"y_{j}_{k}") for k in range(min(cap, len(members)))]
        for k in range(1, len(places)):
            model.add_implication(places[k], places[k - 1])
        model.add(sum(var for _, var in members) == sum(places))
        place_terms.extend((p, k) for k, p in enumerate(places))
        for tag, limit in (max_per_session or {}).items():
            tagged = [var for i, var in members if tag in cases[i].tags]
            if len(tagged) > limit:
                model.add(sum(tagged) <= limit)
    for a, b in same_session:
        ia, ib = index[a], index[b]
        model.add(unassigned[ia] == unassigned[ib])
        for j in range(len(sessions)):
            model.add(x.get((ia, j), 0) == x.get((ib, j), 0))
    costs = (inst.weight[arc_case] * (inst.s_date[arc_session] - inst.earliest[arc_case]) * scale).tolist()
    model.minimize(
        sum(cost * x[pair] for cost, pair in zip(costs, pairs, strict=True))
        + sum(k * p for p, k in place_terms)
        + sum(unassigned_penalty * scale * u for u in unassigned)
    )
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = max(8, num_workers)
    solver.parameters.max_time_in_seconds = time_limit_seconds
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise RuntimeError(f"CP-SAT found no assignment: {solver.status_name(status)}")
    chosen = np.full(len(cases), -1, dtype=np.int64)
    for (i, j), var in x.items():
        if solver.boolean_value(var):
            chosen[i] = j
    bound = None if status == cp_model.OPTIMAL else int(solver.best_objective_bound) // scale
    return _result(
        inst,
        chosen,
        today=today,
        penalty=unassigned_penalty,
        method="cp-sat",
        lower_bound=bound,
        started=started,
        with_reasons=True,
    )


# ------------------------------------------------------------------------------------ reassignment


def reassign_after_cancellation(
    displaced: Sequence[CaseDemand],
    sessions: Sequence[SessionSupply],
    *,
    today: date,
    cancelled: Collection[str],
    booked: Mapping[str, int] | None = None,
    pending: Sequence[CaseDemand] = (),
    priority_bonus: int = 1,
    unassigned_penalty: int = DEFAULT_UNASSIGNED_PENALTY,
) -> AssignmentResult:
    """Re-place the cases of a cancelled session (or one that ended without quorum).

    Displaced cases keep their original earliest date and urgency weight, get `priority_bonus` added
    to the weight so they go ahead of new cases of the same urgency, and are not stopped by
    registration deadlines (they were registered already). Cases already on other sessions stay where
    they are: `booked` gives the places they take. `pending` cases compete for the remaining places.
    """
    taken = booked or {}
    cancelled_ids = frozenset(cancelled)
    remaining = [
        replace(s, capacity=max(0, s.capacity - taken.get(s.id, 0)))
        for s in sessions
        if s.id not in cancelled_ids
    ]
    moved = [replace(c, weight=c.weight + priority_bonus, carried_over=True) for c in displaced]
    result = assign([*moved, *pending], remaining, today=today, unassigned_penalty=unassigned_penalty)
    for c in displaced:
        result.reasons[c.id] = "Report après annulation ou quorum non atteint — " + result.reasons[c.id]
    return result
