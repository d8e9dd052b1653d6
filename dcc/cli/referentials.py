"""`dcc referentials ...`: import referential versions (value sets, terminologies, drugs, regional guidelines),
see the versions in force, and the cases or unsigned documents that use a retired code."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer

from dcc.errors import DccError

app = typer.Typer(help="Référentiels : jeux de valeurs, terminologies, médicaments, référentiels régionaux.",
                  no_args_is_help=True)


def _fail(message: str) -> None:
    typer.echo(f"Erreur : {message}", err=True)
    raise typer.Exit(2)


@app.command("import")
def import_cmd(
    path: Path = typer.Argument(..., help="Fichier ou dossier : jeux de valeurs SVS (XML), terminologies "
                                "(RDF), CSV médicaments (ucd;cip13;libelle;atc) ou référentiels régionaux "
                                "(referentiel;version;date;organe;url)."),
    version: str | None = typer.Option(None, "--version", help="Numéro de version (défaut : celui du fichier)."),
    effective: str | None = typer.Option(None, "--date", help="Date d'effet AAAA-MM-JJ (défaut : celle du "
                                         "fichier, sinon aujourd'hui)."),
    as_json: bool = typer.Option(False, "--json", help="Rapport en JSON."),
) -> None:
    """Importe une nouvelle version de référentiel et affiche le rapport des différences."""
    from dcc.adapters.referentials import read_path
    from dcc.bootstrap import database
    from dcc.services import referentials

    when = None
    if effective is not None:
        try:
            when = date.fromisoformat(effective)
        except ValueError:
            _fail(f"--date attend une date AAAA-MM-JJ, pas « {effective} ».")
    try:
        parsed = read_path(path, version=version)
        with database().uow() as uow:
            reports = referentials.import_referentials(uow, parsed, actor="cli", today=date.today(),
                                                       version=version, effective_date=when)
            flags = referentials.count_retired_code_flags(uow)
    except DccError as exc:
        _fail(exc.message)
    if as_json:
        typer.echo(json.dumps({"imports": [{"system": r.system, "version": r.version, "status": r.status,
                                            "effective_date": r.effective_date.isoformat(),
                                            "concepts": r.concept_count, **r.diff.as_dict()} for r in reports],
                               "retired_code_flags": flags}, ensure_ascii=False))
        return
    for r in reports:
        typer.echo(r.summary())
        if r.status != "mis_a_jour":
            continue
        for code in r.diff.added[:50]:
            typer.echo(f"  + {code}")
        for code in r.diff.retired[:50]:
            typer.echo(f"  - {code}")
        for rl in r.diff.relabelled[:50]:
            typer.echo(f"  ~ {rl.code} : « {rl.old} » → « {rl.new} »")
    typer.echo(f"Dossiers ou documents non signés utilisant un code retiré : {flags}.")


@app.command("baseline")
def baseline_cmd() -> None:
    """Charge le référentiel de base du paquet (jeux de valeurs) là où aucune version n'est importée."""
    from dcc.bootstrap import database
    from dcc.services import referentials

    with database().uow() as uow:
        reports = referentials.load_baseline(uow, actor="cli", today=date.today())
    typer.echo(f"Référentiel de base : {len(reports)} jeu(x) de valeurs chargé(s).")


@app.command("versions")
def versions_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Version en vigueur de chaque référentiel."""
    from dcc.bootstrap import database
    from dcc.services import referentials

    with database().uow() as uow:
        rows = referentials.versions_in_force(uow)
    if as_json:
        typer.echo(json.dumps([{"system": v.system, "version": v.version, "concepts": v.concept_count,
                                "effective_date": v.effective_date.isoformat() if v.effective_date else None,
                                "source": v.source} for v in rows], ensure_ascii=False))
        return
    for v in rows:
        when = f"{v.effective_date:%d/%m/%Y}" if v.effective_date else "non renseignée"
        typer.echo(f"{v.system}\t{v.version}\t{when}\t{v.concept_count} codes\t{v.source}")
