"""TLS of the DMP simulator (`--tls`): HTTPS with client-certificate authentication, as the DMP's endpoints
require (mutual TLS: the connection is authenticated by the structure's TLS client certificate, besides the
VIHF). The demo CA issues the server certificate (localhost, 127.0.0.1) and dcc's client certificate
(dcc.demo.tls: the simulator imports nothing of dcc); the server trusts that CA only, and refuses in the
TLS handshake a client without a certificate or with one another CA issued (no HTTP answer is ever
produced for such a connection).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SimulatorTls:
    """The server's certificate and key, the CA its clients' certificates must come from, and one client
    certificate that CA issued (for dcc: DCC_DMP_TLS_CERT / DCC_DMP_TLS_KEY, DCC_DMP_TRUST_STORE = `ca`)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def uvicorn_options(self) -> dict[str, Any]:
        """uvicorn.Config / uvicorn.run keywords: HTTPS, a client certificate from `ca` required."""
        return {"ssl_certfile": str(self.server_cert), "ssl_keyfile": str(self.server_key),
                "ssl_ca_certs": str(self.ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}

    def client_environment(self) -> dict[str, str]:
        """The DCC_* settings that make dcc connect to this simulator with mutual TLS."""
        return {"DCC_DMP_TLS_CERT": str(self.client_cert), "DCC_DMP_TLS_KEY": str(self.client_key),
                "DCC_DMP_TRUST_STORE": str(self.ca)}
