"""Certificates of the simulator's TLS mode (`dcc dmp-simulator --tls`, `dcc demo --dmp-tls`), issued by the
demo CA: the server's for localhost / 127.0.0.1, a client certificate for dcc (the demo reads the simulator's
state with it) and one client certificate per region, naming the region's sending structure (its name and
identifier, as its seal certificate does: the simulator checks that they match)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from dcc.adapters.signing.pki import init_demo_pki
from dcc.simulator.tls import SimulatorTls

SERVER_HOSTS = ("localhost", "127.0.0.1")


def demo_tls(pki_dir: Path, *, client_name: str = "dcc — client du DMP (démonstration)",
             structures: dict[str, tuple[str, str]] | None = None) -> SimulatorTls:
    """Issue (again) the simulator's server certificate and a client certificate from the demo CA under
    `<pki_dir>/tls/`, and one per region of `structures` (code → (structure name, structure id), see
    `region_clients`); the CA is created when absent."""
    pki = init_demo_pki(Path(pki_dir), [])
    server_cert, server_key = pki.issue_tls("Simulateur DMP (démonstration)", server=True, hosts=SERVER_HOSTS,
                                            stem="dmp-server")
    client_cert, client_key = pki.issue_tls(client_name, server=False, stem="dmp-client")
    tls = SimulatorTls(ca=pki.ca_path, server_cert=server_cert, server_key=server_key, client_cert=client_cert,
                       client_key=client_key)
    return region_clients(tls, pki_dir, structures) if structures else tls


def region_clients(tls: SimulatorTls, pki_dir: Path, structures: dict[str, tuple[str, str]]) -> SimulatorTls:
    """`tls` with one client certificate per region (`tls/dmp-client-<code>.pem`), whose subject names the
    region's sending structure: O = its name, OU = its identifier (the VIHF's seal carries the same)."""
    pki = init_demo_pki(Path(pki_dir), [])
    regions = dict(tls.regions)
    for code, (name, id_nat) in structures.items():
        regions[code] = pki.issue_tls(f"{name} — client du DMP (démonstration)", server=False,
                                      stem=f"dmp-client-{code.lower()}", organization=name, unit=id_nat)
    return dataclasses.replace(tls, regions=regions)


def region_structures(db: Any) -> dict[str, tuple[str, str]]:
    """Each region's sending structure (name, structure id): its first establishment by FINESS, the one whose
    seal signs its VIHF (bootstrap.national_record_transports)."""
    from sqlalchemy import select

    from dcc.adapters.db import models as m
    from dcc.domain.identifiers import struct_id_nat

    structures: dict[str, tuple[str, str]] = {}
    with db.uow() as uow:
        for region in uow.session.scalars(select(m.Region)).all():
            est = uow.session.scalars(select(m.Establishment).where(m.Establishment.region_id == region.id)
                                      .order_by(m.Establishment.finess).limit(1)).first()
            if est is not None:
                structures[region.code] = (est.name, struct_id_nat(est.finess))
    return structures
