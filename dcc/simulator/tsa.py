"""A local RFC 3161 time-stamping authority, for the tests of PAdES B-T signatures (`DCC_TSA_URL`).

The protocol is the real one on the wire (RFC 3161 over HTTP, section 3.4): `POST` of a DER
`TimeStampReq` with `Content-Type: application/timestamp-query`, answered by a DER `TimeStampResp` with
`Content-Type: application/timestamp-reply`. The token (TSTInfo in a signed CMS, the request's nonce
echoed) is built by pyHanko's `DummyTimeStamper` with a time-stamping certificate issued by the demo CA
(`DemoPki.issue_tsa`), so any verifier trusting the demo CA validates it.

A malformed request gets a `TimeStampResp` with status `rejection` and failure info `badDataFormat`;
a wrong content type, HTTP 415. `GET /_state` gives the number of tokens issued (test hook).
"""

from __future__ import annotations

from typing import Any

from asn1crypto import core, tsp
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from fastapi import FastAPI, Request, Response
from pyhanko.sign.timestamps import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

QUERY = "application/timestamp-query"
REPLY = "application/timestamp-reply"


class _StatusOnlyResp(core.Sequence):
    """TimeStampResp without its (OPTIONAL) token: asn1crypto's own class wrongly requires one."""

    _fields = [("status", tsp.PKIStatusInfo)]


def _rejection() -> bytes:
    return bytes(_StatusOnlyResp({
        "status": {"status": "rejection", "status_string": ["Requête d'horodatage illisible."],
                   "fail_info": tsp.PKIFailureInfo({"bad_data_format"})},
    }).dump())


def create_app(tsa_cert: x509.Certificate, tsa_key: rsa.RSAPrivateKey,
               chain: list[x509.Certificate] | None = None) -> FastAPI:
    """The TSA at `/` answering with tokens signed by `tsa_key` (`tsa_cert`, plus `chain` embedded)."""
    stamper = DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(tsa_cert.public_bytes(Encoding.DER)),
        tsa_key=asn1_keys.PrivateKeyInfo.load(
            tsa_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())),
        certs_to_embed=SimpleCertificateStore.from_certs(
            [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in chain or ()]),
    )
    state: dict[str, Any] = {"issued": 0}
    app = FastAPI(title="Autorité d'horodatage (simulateur RFC 3161)", docs_url=None, redoc_url=None)

    @app.post("/")
    async def timestamp(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() != QUERY:
            return Response(status_code=415)
        body = await request.body()
        try:
            req = tsp.TimeStampReq.load(body)
            imprint = req["message_imprint"]
            if not imprint["hashed_message"].native or not imprint["hash_algorithm"]["algorithm"].native:
                raise ValueError("empty message imprint")
        except Exception:  # asn1crypto raises ValueError, TypeError or KeyError on a malformed request
            return Response(_rejection(), media_type=REPLY)
        answer = await stamper.async_request_tsa_response(req)
        state["issued"] += 1
        return Response(answer.dump(), media_type=REPLY)

    @app.get("/_state")
    def tsa_state() -> dict[str, Any]:
        return dict(state)

    return app


__all__ = ["create_app"]
