"""`dcc documents ...`: commands on generated clinical documents (CDA FRCP / PPS).

Mounted by the main CLI as `dcc documents`. Commands: `validate` (ANS kit conformance).
`verify` and `audit-store` are to be added below.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Documents cliniques (Fiche RCP, PPS) : conformité au kit de l'ANS, vérifications.")


@app.callback()
def _documents() -> None:
    """Documents cliniques (Fiche RCP, PPS) : conformité au kit de l'ANS, vérifications."""


@app.command("validate")
def validate(
    files: list[Path] = typer.Argument(
        ..., help="Documents CDA (XML) à valider.", exists=True, dir_okay=False
    ),
    kit: Path | None = typer.Option(
        None,
        "--kit",
        help="Dossier du kit de test CDA de l'ANS (défaut : $DCC_ANS_KIT ou ../shared/ans-cda-kit).",
    ),
) -> None:
    """Valide des documents CDA contre le XSD et les schématrons officiels de l'ANS."""
    from dcc.adapters.cda.validate import KitValidator, find_kit

    kit_dir = kit or find_kit()
    if kit_dir is None or not kit_dir.is_dir():
        typer.echo(
            "Kit de test CDA de l'ANS introuvable : définissez DCC_ANS_KIT ou utilisez --kit "
            "(dépôt public ansforge/TestContenuCDA-3-0).",
            err=True,
        )
        raise typer.Exit(2)
    validator = KitValidator(kit_dir)
    failed = False
    for path in files:
        report = validator.validate(path.read_bytes())
        if report.ok:
            typer.echo(f"{path}: OK")
            continue
        failed = True
        for f in report.failures:
            where = f" ({f.location})" if f.location else ""
            typer.echo(f"{path}: {f.check}{where}: {f.message}")
        typer.echo(f"{path}: {len(report.failures)} assertion(s) en échec")
    if failed:
        raise typer.Exit(1)
