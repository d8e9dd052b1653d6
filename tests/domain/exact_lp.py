"""An independent exact formulation of the board assignment, to check the solver against.

The assignment is a transportation problem: x[c, s] in [0, 1] for each compatible (case, session) pair,
u[c] in [0, 1] when case c stays unassigned; each case is assigned once or left out
(sum_s x[c, s] + u[c] = 1), each session holds at most its capacity (sum_c x[c, s] <= capacity[s]); cost
sum cost[c, s] x[c, s] + penalty sum u[c]. Its constraint matrix is totally unimodular (bipartite incidence),
so the LP optimum is integral and equals the integer optimum. Solved here with OR-Tools' GLOP (a simplex
LP solver), not with the min-cost flow or CP-SAT that dcc.domain.assignment uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ortools.linear_solver import pywraplp


def lp_optimum(case_ids: Sequence[str], capacity: Mapping[str, int], cost: Mapping[tuple[str, str], int],
               penalty: int) -> int:
    """Optimal cost; `cost` holds only the compatible (case, session) pairs."""
    solver = pywraplp.Solver.CreateSolver("GLOP")
    assert solver is not None
    x = {pair: solver.NumVar(0, 1, f"x_{pair[0]}_{pair[1]}") for pair in cost}
    u = {c: solver.NumVar(0, 1, f"u_{c}") for c in case_ids}
    for c in case_ids:
        solver.Add(sum(v for (cc, _), v in x.items() if cc == c) + u[c] == 1)
    for s, cap in capacity.items():
        terms = [v for (_, ss), v in x.items() if ss == s]
        if terms:
            solver.Add(sum(terms) <= cap)
    solver.Minimize(sum(cost[p] * v for p, v in x.items()) + sum(penalty * v for v in u.values()))
    assert solver.Solve() == pywraplp.Solver.OPTIMAL
    value = solver.Objective().Value()
    assert abs(value - round(value)) < 1e-6, value  # integral, as total unimodularity says
    return round(value)
