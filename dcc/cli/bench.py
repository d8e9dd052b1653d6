"""`dcc bench ...`: benchmarks that print figures and ratios (never thresholds)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(help="Benchmarks (chiffres et ratios).", no_args_is_help=True)


@app.command("assignment")
def bench_assignment(
    cases: int = 20000, sessions: int = 1000, weeks: int = 8, seed: int = 1,
    dump: Path | None = None, as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Min-cost-flow assignment vs greedy on a synthetic region."""
    from dcc.bench.assignment import run

    result = run(cases=cases, sessions=sessions, weeks=weeks, seed=seed, dump=dump)
    typer.echo(json.dumps(result, indent=None if as_json else 2))
