"""TLS of the DMP simulator (`--tls`): HTTPS with client-certificate authentication, as the DMP's endpoints
require (mutual TLS: the connection is authenticated by the structure's TLS client certificate, besides the
VIHF). The demo CA issues the server certificate (localhost, 127.0.0.1) and dcc's client certificates
(dcc.demo.tls, one per region: the simulator imports nothing of dcc); the server trusts that CA only, and
refuses in the TLS handshake a client without a certificate or with one another CA issued (no HTTP answer is
ever produced for such a connection).

Which structure connected: uvicorn does not hand the peer certificate to the application, so the simulator's
HTTP protocol (`ClientCertificateProtocol`, uvicorn's own with one addition) puts it in the request scope as
the ASGI TLS extension does (`scope["extensions"]["tls"]["client_cert_chain"]`, PEM). A VIHF-signed request
must then come over a connection whose client certificate names the same structure as the seal certificate
that signs the VIHF (`check_client_binding`): region A's TLS certificate cannot send region B's requests.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from uvicorn.protocols.http.auto import AutoHTTPProtocol


@dataclass(frozen=True)
class SimulatorTls:
    """The server's certificate and key, the CA its clients' certificates must come from, and one client
    certificate that CA issued (for dcc: DCC_DMP_TLS_CERT / DCC_DMP_TLS_KEY, DCC_DMP_TRUST_STORE = `ca`), plus,
    for the demo, one client certificate per region (`regions`: code → (certificate, key))."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    regions: dict[str, tuple[Path, Path]] = field(default_factory=dict)

    def uvicorn_options(self) -> dict[str, Any]:
        """uvicorn.Config / uvicorn.run keywords: HTTPS, a client certificate from `ca` required, the client's
        certificate handed to the application."""
        return {"ssl_certfile": str(self.server_cert), "ssl_keyfile": str(self.server_key),
                "ssl_ca_certs": str(self.ca), "ssl_cert_reqs": ssl.CERT_REQUIRED, "http": ClientCertificateProtocol}

    def client_environment(self) -> dict[str, str]:
        """The DCC_* settings that make dcc connect to this simulator with mutual TLS."""
        import json

        env = {"DCC_DMP_TLS_CERT": str(self.client_cert), "DCC_DMP_TLS_KEY": str(self.client_key),
               "DCC_DMP_TRUST_STORE": str(self.ca)}
        if self.regions:
            env["DCC_DMP_TLS_BY_REGION"] = json.dumps(
                {code: {"cert": str(cert), "key": str(key)} for code, (cert, key) in sorted(self.regions.items())})
        return env


class ClientCertificateProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol, adding the connection's client certificate to every request's scope (the ASGI
    TLS extension's `client_cert_chain`): one protocol object per connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            return
        chain = [ssl.DER_cert_to_PEM_cert(der)]
        inner: Any = self.app  # type: ignore[has-type]

        async def app(scope: Any, receive: Any, send: Any) -> None:
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": {"client_cert_chain": chain}}
            await inner(scope, receive, send)

        self.app = app


def client_certificate(scope: Any) -> x509.Certificate | None:
    """The TLS client certificate of the request's connection (None over plain HTTP)."""
    chain = ((scope.get("extensions") or {}).get("tls") or {}).get("client_cert_chain") or []
    return x509.load_pem_x509_certificate(chain[0].encode("ascii")) if chain else None


def structure_of(cert: x509.Certificate) -> str:
    """The structure a certificate names: its subject's OU, where the IGC Santé's organisation certificates
    carry the structure's identifier. The DMP integration guide's rule EX_GEN-1450 (as quoted on the DMP
    homologation tracker, bitbucket.org/devbox-sante/homologation/issues/29) has the care structure hold two
    IGC Santé organisation certificates: ORG_AUTH_CLI for the mutual-TLS connection and ORG_SIGN (the seal) for
    the VIHF. [U: how the DMP matches the two is not public; the simulator compares this identifier.]"""
    values = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
    return values[0] if len(values) == 1 else ""


class ClientMismatch(Exception):
    """The TLS client certificate and the VIHF's seal name different structures (or one names none)."""


def check_client_binding(client: x509.Certificate | None, seal: x509.Certificate) -> None:
    """Over mutual TLS: the connection's client certificate must name the structure whose seal signs the VIHF."""
    if client is None:
        return  # plain HTTP (the simulator without --tls)
    connected, sealed = structure_of(client), structure_of(seal)
    if not connected or connected != sealed:
        raise ClientMismatch(f"le certificat TLS client (structure « {connected or 'non renseignée'} », "
                             f"{client.subject.rfc4514_string()}) n'est pas celui de la structure dont le "
                             f"cachet signe le VIHF (« {sealed or 'non renseignée'} »)")
