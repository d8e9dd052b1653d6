"""`dcc bench ...`: benchmarks that print figures and ratios (never thresholds).

Progress goes to stderr, the figures to stdout (one JSON line with `--json`, indented otherwise).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="Benchmarks (chiffres et ratios).", no_args_is_help=True)


def _print(result: dict[str, Any], as_json: bool) -> None:
    typer.echo(json.dumps(result, indent=None if as_json else 2, ensure_ascii=False))


def _progress(quiet: bool) -> Any:
    if quiet:
        return None
    return lambda msg: typer.echo(f"… {msg}", err=True)


@app.command("assignment")
def bench_assignment(
    cases: int = 20000, sessions: int = 1000, weeks: int = 8, seed: int = 1,
    dump: Path | None = None, as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Min-cost-flow assignment vs greedy on a synthetic region."""
    from dcc.bench.assignment import run

    result = run(cases=cases, sessions=sessions, weeks=weeks, seed=seed, dump=dump)
    _print(result, as_json)


@app.command("documents")
def bench_documents(
    n: int = typer.Option(200, "--n", min=1, help="Documents to generate."),
    workers: int = typer.Option(1, "--workers", min=1, max=16, help="Pipeline processes."),
    floor: bool = typer.Option(True, "--floor/--no-floor", help="Also measure the WeasyPrint floor."),
    db_per_worker: bool = typer.Option(False, "--db-per-worker",
                                       help="One SQLite copy per worker (no write contention between them)."),
    variant: str | None = typer.Option(None, "--variant", help="PDF variant (default: DCC_PDF_VARIANT)."),
    as_json: bool = typer.Option(False, "--json"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Document pipeline (data → CDA + PDF/A → stored) vs WeasyPrint alone on the same HTML."""
    from dcc.bench.documents import run

    _print(run(n, workers, floor=floor, db_per_worker=db_per_worker, variant=variant,
               progress=_progress(quiet)), as_json)


@app.command("delivery")
def bench_delivery(
    n: int = typer.Option(1000, "--n", min=1, help="Documents (~60 KB CDA) to deliver."),
    dispatchers: int = typer.Option(1, "--dispatchers", min=1, max=16, help="Dispatcher processes."),
    floor: bool = typer.Option(True, "--floor/--no-floor", help="Also measure the plain httpx floor."),
    as_json: bool = typer.Option(False, "--json"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Outbox dispatch to the DMP simulator on loopback vs a plain httpx loop posting the same requests."""
    from dcc.bench.delivery import run

    _print(run(n, dispatchers, floor=floor, progress=_progress(quiet)), as_json)


@app.command("signing")
def bench_signing(
    n: int = typer.Option(50, "--n", min=1, help="Documents to generate, sign and verify."),
    variant: str | None = typer.Option(None, "--variant", help="PDF variant (default: DCC_PDF_VARIANT)."),
    as_json: bool = typer.Option(False, "--json"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """PAdES sign and verify cost per document, and the sign share of the document pipeline's cost."""
    from dcc.bench.signing import run

    _print(run(n, variant=variant, progress=_progress(quiet)), as_json)


@app.command("web")
def bench_web(
    clients: int = typer.Option(32, "--clients", min=1, max=512, help="Concurrent HTTP clients."),
    seconds: float = typer.Option(60.0, "--seconds", min=1.0, help="Duration of the load."),
    database_url: str | None = typer.Option(
        None, "--database-url",
        help="Database to seed and serve (default: a fresh SQLite file). PostgreSQL: postgresql+psycopg://…"),
    workers: int | None = typer.Option(None, "--workers", min=1, max=16,
                                       help="uvicorn processes (default: 1 on SQLite, 2 on PostgreSQL)."),
    patients: int = typer.Option(60, "--patients", min=5, help="Demo patients to seed."),
    op: list[str] | None = typer.Option(
        None, "--op", help="Only this operation of the mix (repeatable), e.g. case_read: its server CPU per request."),
    as_json: bool = typer.Option(False, "--json"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """The web app under load (httpx clients against uvicorn on loopback): requests/s, p50/p95/p99, statuses,
    and the audit chain afterwards."""
    from dcc.bench.web import run

    if workers is None:
        workers = 2 if database_url and database_url.startswith("postgresql") else 1
    _print(run(clients, seconds, database_url=database_url, workers=workers, patients=patients,
               progress=_progress(quiet), ops=op or None), as_json)


@app.command("referentials")
def bench_referentials(
    n: int = typer.Option(40000, "--n", min=100, help="Codes du corpus (CIM-10 : ~40 000)."),
    rounds: int = typer.Option(3, "--rounds", min=1, max=20, help="Passes sur la liste des requêtes."),
    pg_url: str | None = typer.Option(None, "--pg-url", help="Base PostgreSQL à utiliser aussi (migrée, "
                                      "le corpus y est remplacé)."),
    import_before: bool = typer.Option(True, "--import-avant/--sans-import-avant",
                                       help="Chronométrer aussi l'import par l'ancien chemin d'écriture "
                                            "(ratio avant/après)."),
    as_json: bool = typer.Option(False, "--json"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Recherche dans un référentiel de la taille de la CIM-10 : latences p50/p95/p99 en processus."""
    from dcc.bench.referentials import run

    _print(run(n=n, rounds=rounds, pg_url=pg_url, import_before=import_before, progress=_progress(quiet)), as_json)


@app.command("national-day")
def bench_national_day(
    docs: int = typer.Option(400, "--docs", min=1, max=100_000, help="Fiches RCP to generate, sign and deliver."),
    workers: int = typer.Option(2, "--workers", min=1, max=16, help="Prefect workers (processes per stage)."),
    shape: str = typer.Option(
        "production", "--shape",
        help="production: Prefect server, process workers, flow runs (dcc.bench.national_shape); in-process: the "
             "same services in spawned processes, no Prefect (dcc.bench.national_day), to compare."),
    database_url: str | None = typer.Option(
        None, "--database-url",
        help="PostgreSQL server (temporary databases are created there and dropped); default: "
             "DCC_TEST_DATABASE_URL, else postgresql+psycopg://postgres@127.0.0.1:5432/postgres."),
    as_json: bool = typer.Option(False, "--json"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """A national day on PostgreSQL: documents/s per stage (generate, sign, deliver), end to end, and Prefect's
    share (production shape)."""
    if shape == "production":
        from dcc.bench.national_shape import run
    elif shape == "in-process":
        from dcc.bench.national_day import run  # type: ignore[assignment]
    else:
        raise typer.BadParameter("--shape : production ou in-process.")
    _print(run(docs, workers, database_url=database_url, progress=_progress(quiet)), as_json)
