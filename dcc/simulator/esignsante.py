"""A local stand-in for the ANS esignsante signature service (PAdES baseline B only), for the demo and tests.

What it follows: the esignsante-ws OpenAPI description (`esignsante-ws.yaml`, API 2.5.x) and its Spring
delegates, as published by the ANS (github.com/ansforge/esignsante-ws):

- `GET /configurations` -> `Conf` JSON: `{"signature": [ConfSign…], "signatureVerification": [],
  "certificatVerification": [], "proof": []}`; a `ConfSign` carries `idSignConf`, `associatedProofId`,
  `description`, `signaturePackaging`, `digestAlgorithm`, `canonicalisationAlgorithm` and `dn` (the DN
  of the certificate that will sign).
- `GET /ca` -> JSON array of strings (here: the DN of each trusted CA; the real format of the strings is
  not documented [unverified]).
- `POST /signatures/padesbaselineb`, `multipart/form-data`: `idSignConf` (int64, required), `file`
  (binary, required), `secret` (optional, pattern `^[a-zA-Z_0-9-]*$`), `signers` (repeatable:
  "signataires délégataires", which the real service turns into claimed signer roles; ignored here).
  200 -> `ESignSanteSignatureReport` `{"erreurs": [{"codeErreur", "message"}…], "docSigne": base64}`.
  Error answers carry no body, as the real delegates return a bare status: 400 (malformed request),
  401 (wrong secret), 404 (unknown configuration), 501 (Accept header without application/json, or a
  file the service cannot sign), 503 (the service's own signing certificate fails its checks, or a
  server-side failure), 500 (internal error).
- `GET /` -> the list of operations.

Like the real service (which checks `Accept` before anything), the stand-in answers 501 when the request
does not accept `application/json`.

Signing is done server-side with pyHanko and one demo PKCS#12 credential per configuration: an invisible
PAdES B-B signature (SubFilter ETSI.CAdES.detached, SHA-256) appended as an incremental update, as EU DSS
does. Whether the real service draws a visible block depends on its configuration [unverified]; it never
adds a time-stamp (level B only).

Test hooks (not part of the real API): `POST /_faults` with a JSON list of faults consumed one per
signature request: `{"status": 503}` (bare status), `{"erreurs": [{"codeErreur": "…", "message": "…"}]}`
(200 with errors and the unsigned document), `{"tamper": true}` (the document is altered before
signing), `{"not_base64": true}`; `GET /_state` (requests seen).
"""

from __future__ import annotations

import base64
import io
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter

PATH_PADES = "/signatures/padesbaselineb"
OPERATIONS = ["/configurations", "/ca", PATH_PADES]
_SECRET_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789-")


@dataclass
class _SignConf:
    id: int
    signer: signers.SimpleSigner
    certificate: x509.Certificate
    description: str


def _load_signer(p12_path: Path, passphrase: str | bytes) -> tuple[signers.SimpleSigner, x509.Certificate]:
    pw = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
    signer = signers.SimpleSigner.load_pkcs12(str(p12_path), passphrase=pw)
    if signer is None or signer.signing_cert is None:
        raise ValueError(f"cannot open the PKCS#12 file {p12_path}")
    return signer, x509.load_der_x509_certificate(signer.signing_cert.dump())


def _load_crl(path: Path) -> x509.CertificateRevocationList:
    data = path.read_bytes()
    return x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)


def _load_cert(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    return x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)


def _status(code: int) -> Response:
    return Response(status_code=code)


def create_esignsante_app(
    *,
    p12_path: Path,
    passphrase: str | bytes,
    conf_id: int = 1,
    secret: str | None = None,
    ca_path: Path | None = None,
    crl_path: Path | None = None,
    more_credentials: dict[int, tuple[Path, str | bytes]] | None = None,
) -> FastAPI:
    """The stand-in app. `conf_id` signs with (p12_path, passphrase); `more_credentials` adds one signature
    configuration per entry. With `secret`, every signature request must carry it (else 401). With
    `ca_path`/`crl_path`, the signing certificate is checked before each signature as the real service does
    (expired, revoked or untrusted -> 503)."""
    confs: dict[int, _SignConf] = {}
    for cid, (path, pw) in {conf_id: (p12_path, passphrase), **(more_credentials or {})}.items():
        signer, cert = _load_signer(path, pw)
        cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        label = str(cn[0].value) if cn else str(cid)
        confs[cid] = _SignConf(cid, signer, cert, f"Signature PAdES B-B ({label})")
    ca = _load_cert(ca_path) if ca_path else None
    secret_required = secret
    lock = threading.Lock()
    faults: list[dict[str, Any]] = []
    seen: list[dict[str, Any]] = []

    app = FastAPI(title="esignsante (stand-in)", docs_url=None, redoc_url=None, openapi_url=None)

    def accepts_json(request: Request) -> bool:
        return "application/json" in request.headers.get("accept", "")

    def certificate_ok(cert: x509.Certificate) -> bool:
        now = datetime.now(UTC)
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            return False
        if ca is not None:
            try:
                cert.verify_directly_issued_by(ca)
            except Exception:
                return False
        if crl_path is not None and _load_crl(crl_path).get_revoked_certificate_by_serial_number(
                cert.serial_number) is not None:
            return False
        return True

    @app.get("/")
    def operations(request: Request) -> Response:
        if not accepts_json(request):
            return _status(501)
        return JSONResponse(OPERATIONS)

    @app.get("/configurations")
    def configurations(request: Request) -> Response:
        if not accepts_json(request):
            return _status(501)
        return JSONResponse({
            "signature": [
                {
                    "idSignConf": c.id,
                    "associatedProofId": c.id,
                    "description": c.description,
                    "signaturePackaging": "ENVELOPED",
                    "digestAlgorithm": "SHA256",
                    "canonicalisationAlgorithm": "http://www.w3.org/2001/10/xml-exc-c14n#",
                    "dn": c.certificate.subject.rfc4514_string(),
                }
                for c in confs.values()
            ],
            "signatureVerification": [],
            "certificatVerification": [],
            "proof": [],
        })

    @app.get("/ca")
    def trusted_cas(request: Request) -> Response:
        if not accepts_json(request):
            return _status(501)
        return JSONResponse([ca.subject.rfc4514_string()] if ca is not None else [])

    @app.post(PATH_PADES)
    def sign_pades(
        request: Request,
        file: UploadFile | None = File(None),
        idSignConf: str | None = Form(None),  # noqa: N803 - the API's field name
        secret: str | None = Form(None),
        signers_: list[str] = Form([], alias="signers"),
    ) -> Response:
        with lock:
            fault = faults.pop(0) if faults else {}
            seen.append({"idSignConf": idSignConf, "secret": secret is not None, "signers": signers_,
                         "accept": request.headers.get("accept", "")})
        if not accepts_json(request):
            return _status(501)
        if file is None or not idSignConf:
            return _status(400)
        try:
            cid = int(idSignConf)
        except ValueError:
            return _status(400)
        if secret is not None and not set(secret) <= _SECRET_CHARS:
            return _status(400)
        conf = confs.get(cid)
        if conf is None:
            return _status(404)
        if fault.get("status"):
            return _status(int(fault["status"]))
        if secret_required is not None and secret != secret_required:
            return _status(401)
        if not certificate_ok(conf.certificate):
            return _status(503)
        data = file.file.read()
        if not data.startswith(b"%PDF-"):
            return _status(501)
        if fault.get("erreurs"):
            return JSONResponse({"erreurs": fault["erreurs"], "docSigne": base64.b64encode(data).decode()})
        if fault.get("tamper"):
            data = data.replace(b"Fiche RCP", b"Fiche XXX", 1)
        try:
            writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
            meta = signers.PdfSignatureMetadata(field_name=f"Signature{len(writer.prev.embedded_signatures) + 1}",
                                                md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES)
            out = signers.PdfSigner(meta, signer=conf.signer).sign_pdf(writer)
        except (PdfError, ValueError):
            return _status(501)
        signed = bytes(out.getvalue())
        doc = "%%% pas du base64 %%%" if fault.get("not_base64") else base64.b64encode(signed).decode()
        return JSONResponse({"erreurs": [], "docSigne": doc})


    @app.post("/_faults")
    async def set_faults(request: Request) -> Response:
        body = await request.json()
        with lock:
            faults[:] = list(body)
        return JSONResponse({"faults": len(faults)})

    @app.get("/_state")
    def state() -> Response:
        with lock:
            return JSONResponse({"requests": list(seen), "pending_faults": len(faults)})

    return app
