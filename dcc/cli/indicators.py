"""`dcc indicators ...`: compute the network's monthly indicators now (the nightly flow does it), and import
first-treatment dates exported by a hospital."""

from __future__ import annotations

from pathlib import Path

import typer

from dcc.errors import DccError

app = typer.Typer(help="Indicateurs du réseau : calcul mensuel, dates de premier traitement.", no_args_is_help=True)


def _fail(message: str) -> None:
    typer.echo(f"Erreur : {message}", err=True)
    raise typer.Exit(2)


@app.command("compute")
def compute_cmd(months_back: int = typer.Option(12, "--months-back", min=0, max=36,
                                                 help="Mois précédents recalculés en plus du mois en cours.")) -> None:
    """Recalcule les indicateurs du mois en cours et des mois précédents (remplace leurs lignes)."""
    from dcc.bootstrap import database
    from dcc.domain.clock import now_utc, paris_day
    from dcc.services import indicator_table

    for month in indicator_table.months_to_refresh(paris_day(now_utc()), months_back):
        with database().uow() as uow:
            rows = indicator_table.refresh_month(uow, month)
        typer.echo(f"{month:%m/%Y} : {rows} RCP")


@app.command("import-first-treatments")
def import_cmd(path: Path = typer.Argument(..., help="CSV « dossier;date_premier_traitement » (numéro d'inscription "
                                           "ou identifiant du dossier ; AAAA-MM-JJ).")) -> None:
    """Importe les dates de premier traitement (tout ou rien ; chaque date est tracée dans l'audit)."""
    from dcc.bootstrap import database
    from dcc.domain.clock import now_utc, paris_day
    from dcc.services import treatment_start

    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"fichier illisible ({exc.__class__.__name__}) : {path}")
        return
    try:
        with database().uow() as uow:
            n = treatment_start.import_first_treatments(uow, content, actor="import", today=paris_day(now_utc()))
    except DccError as exc:
        _fail(exc.message)
        return
    typer.echo(f"{n} date(s) de premier traitement enregistrée(s).")
