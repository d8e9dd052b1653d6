"""`dcc documents ...`: commands on generated clinical documents (CDA FRCP / PPS).

Mounted by the main CLI as `dcc documents`. Commands: `validate` (ANS kit conformance), `verify` (PAdES
signature of a PDF) and `audit-store` (stored SHA-256 against stored bytes).
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


@app.command("verify")
def verify(
    file: Path = typer.Argument(..., help="PDF signé à vérifier.", exists=True, dir_okay=False),
    trust_roots: list[Path] | None = typer.Option(
        None,
        "--trust-root",
        help="Certificat (PEM ou DER) d'une autorité de confiance ; répétable "
        "(défaut : l'AC de démonstration, <pki_dir>/ca.pem).",
        exists=True,
        dir_okay=False,
    ),
) -> None:
    """Vérifie la signature PAdES d'un PDF : signataire, date, chaîne de certification, couverture.

    Code de sortie 0 seulement si le document est intact, entièrement couvert par la signature et
    rattaché à une autorité de confiance ; 1 sinon ; 2 si la vérification est impossible.
    """
    from dcc.adapters.signing.pades import PARIS, verify_pdf
    from dcc.config import get_settings

    roots = list(trust_roots or [])
    if not roots:
        default = get_settings().resolved_pki_dir / "ca.pem"
        if not default.is_file():
            typer.echo(f"Aucune autorité de confiance : {default} introuvable (utilisez --trust-root ou "
                       "`dcc pki init`).", err=True)
            raise typer.Exit(2)
        roots = [default]
    try:
        result = verify_pdf(file.read_bytes(), trust_roots=roots)
    except Exception as exc:  # unreadable PDF or certificate: not a verdict on the signature
        typer.echo(f"{file}: vérification impossible ({type(exc).__name__}: {exc}).", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"Fichier : {file}")
    if result.signature_count == 0:
        typer.echo("Signature : aucune")
        typer.echo(f"Verdict : ÉCHEC — {result.summary_fr()}")
        raise typer.Exit(1)
    signer = result.signer_name + (f" (identifiant {result.signer_id_nat})" if result.signer_id_nat else "")
    when = (result.signing_time.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S %Z")
            if result.signing_time else "inconnue")
    if result.trusted:
        chain = "valide (rattachée à une autorité de confiance)"
    elif result.revoked:
        chain = "certificat révoqué"
    elif result.expired:
        chain = "certificat expiré ou pas encore valide"
    else:
        chain = f"non reconnue ({result.problem or 'autorité inconnue'})"
    typer.echo(f"Signataire : {signer}")
    typer.echo(f"Date de signature : {when}{' (horodatée)' if result.timestamped else ''}")
    typer.echo(f"Intégrité : {'intacte' if result.intact and result.valid else 'ALTÉRÉE'}")
    typer.echo(f"Chaîne de certification : {chain}")
    typer.echo(f"Couverture : {'fichier entier' if result.covers_entire_file else 'PARTIELLE'} "
               f"({result.coverage or 'inconnue'})")
    if result.signature_count > 1:
        typer.echo(f"Signatures : {result.signature_count} (la dernière est vérifiée)")
    typer.echo(f"Verdict : {'OK' if result.ok else 'ÉCHEC'} — {result.summary_fr()}")
    if not result.ok:
        raise typer.Exit(1)


@app.command("audit-store")
def audit_store_command() -> None:
    """Vérifie que l'empreinte SHA-256 enregistrée de chaque document correspond à ses octets.

    Code de sortie 1 à la moindre différence.
    """
    from sqlalchemy import func, select

    from dcc.adapters.db import models as m
    from dcc.bootstrap import database
    from dcc.config import get_settings
    from dcc.services.documents import audit_store

    with database(get_settings().resolved_database_url).uow() as uow:
        problems = audit_store(uow)
        count = uow.session.scalar(select(func.count()).select_from(m.Document)) or 0
    for p in problems:
        typer.echo(p)
    if problems:
        typer.echo(f"{len(problems)} anomalie(s) sur {count} document(s).", err=True)
        raise typer.Exit(1)
    typer.echo(f"Empreintes conformes : {count} document(s) vérifié(s).")



@app.command("drain")
def drain_command(
    limit: int = typer.Option(500, min=1, max=100_000, help="Nombre maximal de dossiers traités."),
    max_attempts: int = typer.Option(5, "--max-attempts", min=1, max=50,
                                     help="Tentatives avant la lettre morte."),
    lease_seconds: int = typer.Option(300, "--lease-seconds", min=10, max=86_400,
                                      help="Durée du bail d'un dossier en cours de génération."),
) -> None:
    """Génère les documents dus (file écrite par la validation des séances), sans serveur Prefect.

    En production, le déploiement Prefect `generate-pending-documents` le fait (chaque minute et à chaque
    validation) ; cette commande sert au mode local (`make serve`) et au dépannage. Code de sortie 1 si des
    dossiers sont passés en lettre morte.
    """
    from dcc.bootstrap import cda_builder, database, pdf_renderer
    from dcc.config import get_settings
    from dcc.services.generation import GenerationPolicy, generate_pending_documents

    db = database(get_settings().resolved_database_url)
    result = generate_pending_documents(db, cda=cda_builder(), pdf=pdf_renderer(), limit=limit,
                                        policy=GenerationPolicy(max_attempts=max_attempts, lease_s=lease_seconds))
    c = result.counts()
    typer.echo(f"Dossiers générés : {c['generated']} ; déjà générés : {c['already']} ; nouvel essai prévu : "
               f"{c['retried']} ; lettres mortes : {c['dead']} ; baux expirés repris : {c['reclaimed']} ; "
               f"documents créés : {c['documents']}.")
    for case_id, reason in sorted(result.failures.items()):
        typer.echo(f"Dossier {case_id} : {reason}")
    if result.dead:
        raise typer.Exit(1)
