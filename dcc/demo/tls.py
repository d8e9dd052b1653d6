"""Certificates of the simulator's TLS mode (`dcc dmp-simulator --tls`, `dcc demo --dmp-tls`), issued by the
demo CA: the server's for localhost / 127.0.0.1 and a client certificate for dcc."""

from __future__ import annotations

from pathlib import Path

from dcc.adapters.signing.pki import init_demo_pki
from dcc.simulator.tls import SimulatorTls

SERVER_HOSTS = ("localhost", "127.0.0.1")


def demo_tls(pki_dir: Path, *, client_name: str = "dcc — client du DMP (démonstration)") -> SimulatorTls:
    """Issue (again) the simulator's server certificate and a client certificate from the demo CA under
    `<pki_dir>/tls/`; the CA is created when absent."""
    pki = init_demo_pki(Path(pki_dir), [])
    server_cert, server_key = pki.issue_tls("Simulateur DMP (démonstration)", server=True, hosts=SERVER_HOSTS,
                                            stem="dmp-server")
    client_cert, client_key = pki.issue_tls(client_name, server=False, stem="dmp-client")
    return SimulatorTls(ca=pki.ca_path, server_cert=server_cert, server_key=server_key, client_cert=client_cert,
                        client_key=client_key)
