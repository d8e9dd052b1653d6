"""`dcc dmp-simulator`: run the DMP (XDS.b ITI-41) simulator standalone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import uvicorn

from dcc.simulator.app import FaultSpec, create_app


def dmp_simulator(
    host: str = typer.Option("127.0.0.1", help="Adresse d'écoute."),
    port: int = typer.Option(8765, help="Port d'écoute."),
    faults: str = typer.Option(
        "", help="Pannes simulées, ex. « fail=0.3,drop_after_commit=0.1,latency_ms=50,outage_s=30,seed=1 »."
    ),
    dump: Path | None = typer.Option(None, help="Dossier où écrire chaque requête HTTP brute reçue."),
    trust_store: Path | None = typer.Option(
        None, "--trust-store", envvar="DCC_SIM_TRUST_STORE",
        help="Certificats d'autorité (PEM, fichier ou dossier) dont doivent émaner les signataires des VIHF et "
             "des lots de soumission ; sans lui, toute requête signée est refusée (démo : var/pki/ca.pem).",
    ),
    tls: bool = typer.Option(False, "--tls", help="HTTPS avec certificat client obligatoire (AC de démonstration)."),
) -> None:
    """Lance le simulateur du DMP (ITI-41 sur POST /xds/iti41, état sur GET /_state).

    Avec --tls : HTTPS, certificat serveur et certificat client émis par l'AC de démonstration (sous
    <DCC_PKI_DIR>/tls/), dont un par région de la base dcc ; une connexion sans certificat client de cette AC
    est refusée, et un VIHF doit arriver par la connexion de la structure dont le cachet le signe."""
    try:
        FaultSpec.parse(faults)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from exc
    app = create_app(faults=faults or None, dump_dir=dump, trust_store=trust_store)
    options: dict[str, Any] = {}
    scheme = "http"
    if tls:
        from dcc.config import get_settings
        from dcc.demo.tls import demo_tls

        settings = get_settings()
        material = demo_tls(settings.resolved_pki_dir)
        url = settings.resolved_database_url
        try:  # one client certificate per region of dcc's database, naming the structure its seal names
            if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
                raise FileNotFoundError(url)
            from dcc.bootstrap import database
            from dcc.demo.tls import region_clients, region_structures

            material = region_clients(material, settings.resolved_pki_dir, region_structures(database(url)))
        except Exception as exc:  # no database yet: the generic certificate only (a VIHF over it is refused)
            typer.echo(f"Certificats TLS par région non émis (base dcc illisible : {type(exc).__name__}).")
        options, scheme = material.uvicorn_options(), "https"
        typer.echo("TLS mutuel : certificat client obligatoire. Pour dcc :")
        for name, value in material.client_environment().items():
            typer.echo(f"  {name}={value}")
    typer.echo(f"Simulateur DMP : {scheme}://{host}:{port}/xds/iti41 (état : {scheme}://{host}:{port}/_state)")
    uvicorn.run(app, host=host, port=port, log_level="info", **options)
