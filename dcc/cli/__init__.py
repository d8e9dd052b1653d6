"""`dcc` command line (Typer). Errors a user can fix are one line, exit code 2, no traceback."""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table

from dcc.config import get_settings
from dcc.errors import DccError

app = typer.Typer(help="dcc — Dossier Communicant de Cancérologie", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
db_app = typer.Typer(help="Base de données (migrations).", no_args_is_help=True)
pki_app = typer.Typer(help="PKI de démonstration (jamais en production).", no_args_is_help=True)
audit_app = typer.Typer(help="Journal d'audit chaîné.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(pki_app, name="pki")
app.add_typer(audit_app, name="audit")

from dcc.cli.bench import app as bench_app  # noqa: E402

app.add_typer(bench_app, name="bench")

from dcc.cli.auth import auth_app  # noqa: E402

app.add_typer(auth_app, name="auth")

from dcc.cli.documents import app as documents_app  # noqa: E402  (after `app`, like the other sub-apps)

app.add_typer(documents_app, name="documents")

from dcc.cli.referentials import app as referentials_app  # noqa: E402

app.add_typer(referentials_app, name="referentials")

from dcc.cli.indicators import app as indicators_app  # noqa: E402

app.add_typer(indicators_app, name="indicators")

err = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]Erreur :[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _int_option(value: str, name: str, *, minimum: int, maximum: int) -> int:
    try:
        n = int(value)
    except ValueError:
        fail(f"--{name} attend un nombre entier, pas « {value} » (--{name} expects an integer).")
    if not minimum <= n <= maximum:
        fail(f"--{name} doit être entre {minimum} et {maximum} (got {n}).")
    return n


def _check_writable(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".dcc-write-test-"):
            pass
    except OSError as exc:
        fail(f"le dossier de sortie « {path} » n'est pas accessible en écriture ({exc.strerror}).")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (Alembic) and load the package's baseline referentials."""
    from dcc.bootstrap import migrate

    url = get_settings().resolved_database_url
    loaded = migrate(url)
    typer.echo(f"Base à jour : {url.split('@')[-1]}"
               + (f" ; référentiel de base : {loaded} jeu(x) de valeurs chargé(s)" if loaded else ""))


@app.command()
def demo(
    seed: str = typer.Option("1", help="Graine des données synthétiques."),
    patients: str = typer.Option("30", help="Nombre de patients."),
    regions: str = typer.Option("2", help="Nombre de régions (1 à 4)."),
    out: Path | None = typer.Option(None, help="Dossier où écrire les CDA, PDF et summary.json."),
    as_json: bool = typer.Option(False, "--json", help="Imprime le résumé JSON sur la sortie standard."),
    reset: bool = typer.Option(False, help="Repart d'une base vide."),
    dmp_faults: str = typer.Option("", help="Pannes injectées dans le simulateur DMP (ex. fail=0.3)."),
    dmp_dump: Path | None = typer.Option(None, help="Écrit chaque requête HTTP reçue par le simulateur."),
    dmp_tls: bool = typer.Option(False, "--dmp-tls", help="Simulateur DMP en HTTPS, TLS mutuel (AC de démonstration)."),
) -> None:
    """Run the whole chain on synthetic data: seed, sessions, meeting, documents, signature, delivery."""
    from dcc.demo.run import DemoOptions, run_demo

    opts = DemoOptions(
        seed=_int_option(seed, "seed", minimum=0, maximum=2**31), reset=reset,
        patients=_int_option(patients, "patients", minimum=1, maximum=5000),
        regions=_int_option(regions, "regions", minimum=1, maximum=4), out=out, dmp_faults=dmp_faults,
        dmp_dump=dmp_dump, dmp_tls=dmp_tls, today=date.today(),
    )
    if out is not None:
        _check_writable(out)
    if dmp_dump is not None:
        _check_writable(dmp_dump)
    if dmp_faults:
        from dcc.simulator.app import FaultSpec

        try:
            FaultSpec.parse(dmp_faults)
        except (ValueError, DccError) as exc:
            fail(f"--dmp-faults invalide : {exc}")
    console = Console(stderr=as_json)
    with console.status("Démonstration en cours…") as status:
        summary = run_demo(opts, get_settings(), progress=lambda msg: status.update(msg))
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        _print_summary(console, summary)
    if summary["errors"]:
        raise typer.Exit(0)


def _print_summary(console: Console, s: dict[str, object]) -> None:
    st = s["stages"]
    assert isinstance(st, dict)
    table = Table(title=f"dcc demo — graine {s['seed']}, régions {', '.join(s['regions'])}")  # type: ignore[arg-type]
    table.add_column("Étape")
    table.add_column("Résultat")
    national = s["national_record"]
    assert isinstance(national, list)
    d = st["delivery"]
    rows = [
        ("1. Données", f"{len(s['regions'])} régions, {s['cases']} patients inscrits"),  # type: ignore[arg-type]
        ("2. Séances et dossiers", f"{s['sessions']} séances planifiées, {st['assignment']['assigned']} dossiers "
                                   f"affectés, {st['assignment']['unassigned']} sans séance"),
        ("3. Réunions", f"{st['meeting']['sessions_held']} séances tenues (quorum atteint : "
                        f"{st['meeting']['quorum_met']}, non atteint : {st['meeting']['quorum_not_met']}), "
                        f"{st['meeting']['decisions']} décisions, {st['meeting']['represented']} dossiers "
                        "représentés"),
        ("4. Documents", f"{st['documents']['frcp']} fiches RCP et {st['documents']['pps']} PPS (CDA + PDF/A), "
                         f"{st['documents']['refused']} refusés"),
        ("5. Signature", f"{st['signature']['signed']} documents signés (PAdES)"),
        ("5b. Correction", _correction_line(st.get("correction") or {})),
        ("6. Envoi DMP et MSSanté", f"{d['delivered']} remis, {d['retried']} nouvelles tentatives, "
                         f"{d['dead_letters']} en échec définitif, {d.get('mssante_messages', 0)} messages MSSanté "
                         "aux correspondants"),
        ("7. DMP (simulateur)", f"{len(national)} documents enregistrés"),
    ]
    for a, b in rows:
        table.add_row(a, b)
    console.print(table)
    for e in s["errors"]:  # type: ignore[attr-defined]
        console.print(f"[yellow]• {e}[/]")


def _correction_line(c: dict[str, object]) -> str:
    if not c.get("corrected"):
        return f"aucune ({c.get('reason', 'rien à corriger')})"
    prev, cur = c["previous"], c["current"]
    assert isinstance(prev, dict) and isinstance(cur, dict)
    motive = c.get("update_motive")
    label = motive.get("display", "correction") if isinstance(motive, dict) else "correction"
    return (f"{c['kind']} v{cur['version']} signé ({label}), "
            f"remplace la v{prev['version']}, désormais remplacée ; envoi avec association RPLC")


@app.command("dmp-simulator")
def dmp_simulator(
    host: str = typer.Option("127.0.0.1", help="Adresse d'écoute."),
    port: int = typer.Option(8765, help="Port."),
    faults: str = typer.Option("", help="Pannes injectées, ex. fail=0.3,drop_after_commit=0.1,latency_ms=50"),
    dump: Path | None = typer.Option(None, help="Dossier où écrire chaque requête brute reçue."),
    trust_store: Path | None = typer.Option(
        None, "--trust-store", envvar="DCC_SIM_TRUST_STORE",
        help="Certificats d'autorité (PEM) dont doivent émaner les signataires des VIHF et des lots ; sans lui, "
             "toute requête signée est refusée (démo : var/pki/ca.pem)."),
    tls: bool = typer.Option(False, "--tls", help="HTTPS avec certificat client obligatoire (AC de démonstration)."),
) -> None:
    """Run the national-record (DMP) simulator standalone."""
    from dcc.cli.simulator import dmp_simulator as run

    run(host=host, port=port, faults=faults, dump=dump, trust_store=trust_store, tls=tls)


@pki_app.command("init")
def pki_init() -> None:
    """Create the demo CA and one certificate per physician of the directory under var/pki/."""
    from sqlalchemy import select

    from dcc.adapters.db import models as m
    from dcc.adapters.signing.pki import init_demo_pki
    from dcc.bootstrap import database

    settings = get_settings()
    if settings.env == "production":
        fail("la PKI de démonstration est interdite en production (DCC_ENV=production).")
    physicians: list[tuple[str, str]] = []
    try:
        with database().uow() as uow:
            for p in uow.session.scalars(select(m.Professional).where(m.Professional.is_physician)):
                physicians.append((f"{p.given} {p.family}", "8" + p.rpps))
    except DccError:
        pass  # no database yet: the CA alone
    pki = init_demo_pki(settings.resolved_pki_dir, physicians)
    typer.echo(f"PKI de démonstration : {settings.resolved_pki_dir} (AC : {pki.ca_path}, "
               f"{len(physicians)} certificats)")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit log's hash chain; exit 1 on an edited, deleted, reordered or truncated entry."""
    from dcc.bootstrap import database
    from dcc.services.audit import pending_count, verify_chain

    with database().uow() as uow:
        problems = verify_chain(uow)
        pending = pending_count(uow)
    for p in problems:
        typer.echo(p)
    if problems:
        raise typer.Exit(1)
    typer.echo("Journal d'audit intègre." + (f" {pending} entrée(s) récente(s) en attente de scellement, "
                                            "vérifiées par leur voie d'écriture." if pending else ""))


@audit_app.command("seal")
def audit_seal() -> None:
    """Seal the audit entries written since the last sealing into the hash chain (the web server does it
    every DCC_AUDIT_SEAL_INTERVAL_S; this is for a server stopped or run without it)."""
    from dcc.bootstrap import database
    from dcc.services.audit import seal_all

    typer.echo(f"{seal_all(database())} entrée(s) scellée(s).")


def main() -> None:  # pragma: no cover
    import os

    from dcc.logging import configure_logging, log_format

    settings = get_settings()
    # the demo keeps its console clean unless a log level is asked for explicitly
    quiet_demo = len(sys.argv) > 1 and sys.argv[1] == "demo" and "DCC_LOG_LEVEL" not in os.environ
    configure_logging("ERROR" if quiet_demo else settings.log_level,
                      fmt=log_format(env=settings.env))
    try:
        app()
    except DccError as exc:  # raised outside a command's own handling: no typer context to exit through
        err.print(f"[bold red]Erreur :[/] {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(2)
