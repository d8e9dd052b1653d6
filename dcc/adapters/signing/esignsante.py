"""Remote PAdES signing through the ANS esignsante REST service (PAdES baseline B).

Request (from the esignsante-ws OpenAPI description, API 2.5.x, and its Spring delegates published by
the ANS at github.com/ansforge/esignsante-ws; not yet tried against a real instance):

    POST {base_url}/signatures/padesbaselineb          Accept: application/json
    multipart/form-data: idSignConf=<int64>, file=<the PDF>, [secret=<[a-zA-Z_0-9-]*>], [signers=… repeated]

    200 {"erreurs": [{"codeErreur": "…", "message": "…"}], "docSigne": "<base64 of the signed PDF>"}
    400 malformed · 401 wrong secret · 404 unknown configuration · 501 Accept without application/json,
    or a file the service cannot sign · 503 service unavailable, or the service's own signing certificate
    failed its checks · 500 internal error. Error answers have no body.

`GET {base_url}/configurations` lists the signature configurations; each `ConfSign` gives `idSignConf`
and `dn`, the DN of the certificate that signs with it. The service signs with the key of the
configuration (level B only: no time-stamp, so DCC_TSA_URL does not apply), not with a key chosen per
request: a physician's signature means a configuration bound to that physician's certificate.

Checks done here, since the service is a remote party:
- before sending (when /configurations answers): the configuration exists and, when its DN carries a
  national id (serialNumber / pseudonym), it is the expected physician's;
- on the answer: no `erreurs`; `docSigne` is base64 of a PDF that starts with the exact bytes sent
  (an incremental update: the service did not rewrite the document) and carries exactly one more
  signature, intact, covering the whole file; its certificate passes the same refusals as a local
  signature (expired, not yet valid, revoked per the CRL, not issued by the trusted CA, another
  physician's certificate).

Assumptions marked unverified [U]: the `dn` format (Java RFC 2253; an id as `SERIALNUMBER=`,
`2.5.4.5=` or hex `#…` is understood); that the service appends an incremental update (EU DSS with
PDFBox does); that a non-empty `erreurs` with a 200 means failure; that `signers` are claimed roles,
not needed for a physician's own signature (never sent). The visible signature block of local signers
is not drawn: the appearance is the service's configuration.

Errors: refusals (the signature must not be retried as is) raise SignatureRefused with a French message;
network failures, timeouts, 500 and 503 raise SigningServiceUnavailable (try again later).
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from asn1crypto import core as asn1_core
from cryptography import x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from dcc.adapters.http_failures import Failure, classify_failure
from dcc.adapters.signing.pades import _load_cert, _load_crl, check_signing_certificate, verify_pdf
from dcc.errors import SignatureRefused, SigningServiceUnavailable

log = logging.getLogger(__name__)

PATH_PADES = "/signatures/padesbaselineb"
PATH_CONFIGURATIONS = "/configurations"
_SECRET = re.compile(r"^[a-zA-Z_0-9\-]*$")
_DN_ID = re.compile(r"(?:^|[,+])\s*(?:SERIALNUMBER|serialNumber|2\.5\.4\.5|PSEUDONYM|pseudonym|2\.5\.4\.65)"
                    r"\s*=\s*((?:\\.|[^,+])*)")


def dn_id_nat(dn: str) -> str:
    """The national id in a DN string (serialNumber, else pseudonym), or "" when absent."""
    for match in _DN_ID.finditer(dn):
        value = match.group(1).strip()
        if value.startswith("#"):  # RFC 2253 hex of the DER value (Java, for attributes it has no name for)
            try:
                value = str(asn1_core.load(bytes.fromhex(value[1:])).native)
            except (ValueError, TypeError):
                continue
        value = re.sub(r"\\(.)", r"\1", value)
        if value:
            return value
    return ""


class EsignsanteSigner:
    """PdfSigner over an esignsante instance and one of its signature configurations."""

    def __init__(
        self,
        base_url: str,
        conf_id: int,
        *,
        client: httpx.Client | None = None,
        secret: str | None = None,
        id_nat: str | None = None,
        trust_ca: Path | None = None,
        crl: Path | None = None,
        timeout: float = 30.0,
    ) -> None:
        if secret is not None and not _SECRET.match(secret):
            raise ValueError("esignsante secret: only letters, digits, '_' and '-'")
        self.base_url = base_url.rstrip("/")
        self.conf_id = int(conf_id)
        self.secret = secret or None
        self.id_nat = id_nat
        self._trust_ca_path = trust_ca
        self._trust_ca = _load_cert(trust_ca) if trust_ca else None
        self._crl_path = crl
        self._own_client = client is None
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=5.0))
        self._conf_dn: str | None = None

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    # -- HTTP

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        url = self.base_url + path
        try:
            return self._client.request(method, url, headers={"Accept": "application/json"}, **kw)
        except httpx.TimeoutException as exc:
            raise SigningServiceUnavailable(
                f"Service de signature esignsante : pas de réponse dans le délai ({url})."
            ) from exc
        except httpx.TransportError as exc:
            raise SigningServiceUnavailable(
                f"Service de signature esignsante injoignable ({url}) : {type(exc).__name__}."
            ) from exc

    def configurations(self) -> dict[str, Any]:
        """The service's `Conf` document (GET /configurations)."""
        resp = self._request("GET", PATH_CONFIGURATIONS)
        self._raise_for_status(resp, what="la liste des configurations")
        try:
            data = resp.json()
        except ValueError as exc:
            raise SignatureRefused(
                "Signature refusée : réponse illisible du service esignsante (/configurations)."
            ) from exc
        return data if isinstance(data, dict) else {}

    def _raise_for_status(self, resp: httpx.Response, *, what: str) -> None:
        code = resp.status_code
        if code == 200:
            return
        messages = {
            400: "requête refusée comme mal formée",
            401: "secret d'accès refusé (DCC_ESIGNSANTE_SECRET)",
            404: f"configuration de signature {self.conf_id} inconnue du service",
            501: "document ou opération non pris en charge par le service",
        }
        if code in messages:
            raise SignatureRefused(f"Signature refusée par esignsante ({what}) : {messages[code]} "
                                   f"(HTTP {code}).")
        if classify_failure(code) is Failure.TRANSIENT:
            raise SigningServiceUnavailable(
                f"Service de signature esignsante indisponible ({what}, HTTP {code}) ; "
                "un 503 peut aussi signifier que le certificat du service est refusé par ses propres contrôles."
            )
        raise SignatureRefused(f"Signature refusée : réponse inattendue d'esignsante ({what}, HTTP {code}).")

    # -- checks

    def _precheck(self, expected_id_nat: str | None) -> None:
        """The configuration exists and, when its DN names a national id, it is the expected one."""
        if self._conf_dn is None:
            confs = self.configurations().get("signature") or []
            match = [c for c in confs if isinstance(c, dict) and str(c.get("idSignConf")) == str(self.conf_id)]
            if not match:
                raise SignatureRefused(
                    f"Signature refusée : la configuration de signature {self.conf_id} n'existe pas "
                    "sur le service esignsante."
                )
            self._conf_dn = str(match[0].get("dn") or "")
        conf_id_nat = dn_id_nat(self._conf_dn)
        if expected_id_nat and conf_id_nat and conf_id_nat != expected_id_nat:
            raise SignatureRefused(
                f"Signature refusée : la configuration esignsante {self.conf_id} signe avec le certificat "
                f"« {self._conf_dn} » (identifiant {conf_id_nat}), pas celui du médecin signataire attendu "
                f"(identifiant {expected_id_nat})."
            )

    def _check_answer(self, pdf: bytes, resp: httpx.Response, *, expected_id_nat: str | None,
                      at: datetime) -> bytes:
        try:
            report = resp.json()
        except ValueError as exc:
            raise SignatureRefused("Signature refusée : réponse illisible du service esignsante.") from exc
        if not isinstance(report, dict):
            raise SignatureRefused("Signature refusée : réponse inattendue du service esignsante.")
        errors = report.get("erreurs") or []
        if errors:
            details = "; ".join(
                f"{e.get('codeErreur', '?')} : {e.get('message', '')}" if isinstance(e, dict) else str(e)
                for e in errors
            )
            raise SignatureRefused(f"Signature refusée par esignsante : {details}.")
        encoded = report.get("docSigne")
        if not isinstance(encoded, str) or not encoded:
            raise SignatureRefused("Signature refusée : le service esignsante n'a pas renvoyé de document signé.")
        try:
            signed = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SignatureRefused(
                "Signature refusée : le document renvoyé par esignsante n'est pas du base64 valide."
            ) from exc
        if not signed.startswith(pdf) or len(signed) == len(pdf):
            raise SignatureRefused(
                "Signature refusée : le document renvoyé par esignsante ne conserve pas à l'identique "
                "le document envoyé (la signature doit être un ajout incrémental)."
            )
        try:
            before = len(PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures)
            sigs = PdfFileReader(io.BytesIO(signed), strict=False).embedded_signatures
        except (PdfError, ValueError) as exc:
            raise SignatureRefused("Signature refusée : le document renvoyé par esignsante est illisible.") from exc
        if len(sigs) != before + 1:
            raise SignatureRefused(
                f"Signature refusée : le document renvoyé par esignsante porte {len(sigs) - before} nouvelle(s) "
                "signature(s) au lieu d'une."
            )
        result = verify_pdf(signed, trust_roots=[self._trust_ca_path] if self._trust_ca_path else [],
                            crls=[self._crl_path] if self._crl_path else [])
        if not (result.intact and result.valid):
            raise SignatureRefused("Signature refusée : la signature renvoyée par esignsante est invalide.")
        if not result.covers_entire_file:
            raise SignatureRefused(
                "Signature refusée : la signature renvoyée par esignsante ne couvre pas tout le document."
            )
        cert = x509.load_der_x509_certificate(sigs[-1].signer_cert.dump())
        check_signing_certificate(
            cert, at=at, expected_id_nat=expected_id_nat, trust_ca=self._trust_ca,
            crl=_load_crl(self._crl_path) if self._crl_path else None,
        )
        return signed

    # -- PdfSigner

    def sign(
        self,
        pdf: bytes,
        *,
        signer_name: str,
        reason: str,
        location: str,
        expected_id_nat: str | None = None,
    ) -> bytes:
        """`signer_name`, `reason` and `location` are not part of the esignsante API (the configuration
        decides the signature's attributes); they are logged only."""
        expected = expected_id_nat if expected_id_nat is not None else self.id_nat
        self._precheck(expected)
        data: dict[str, str] = {"idSignConf": str(self.conf_id)}
        if self.secret:
            data["secret"] = self.secret
        now = datetime.now(UTC)
        resp = self._request("POST", PATH_PADES, data=data,
                             files={"file": ("document.pdf", pdf, "application/pdf")})
        self._raise_for_status(resp, what="signature PAdES")
        signed = self._check_answer(pdf, resp, expected_id_nat=expected, at=now)
        log.info("esignsante signature", extra={"conf_id": self.conf_id, "signer": signer_name,
                                                "reason": reason, "location": location})
        return signed


def conf_for_physician(configurations: dict[str, Any], id_nat: str) -> int | None:
    """The signature configuration whose certificate DN carries `id_nat`, if exactly one does."""
    found = [c.get("idSignConf") for c in configurations.get("signature") or []
             if isinstance(c, dict) and dn_id_nat(str(c.get("dn") or "")) == id_nat]
    return int(found[0]) if len(found) == 1 and found[0] is not None else None


def list_configurations(base_url: str, *, client: httpx.Client | None = None,
                        timeout: float = 30.0) -> dict[str, Any]:
    """The `Conf` document of an esignsante instance (GET /configurations)."""
    probe = EsignsanteSigner(base_url, 0, client=client, timeout=timeout)
    try:
        return probe.configurations()
    finally:
        probe.close()
