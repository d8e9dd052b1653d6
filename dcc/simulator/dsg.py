"""The submission set's signature as the registry checks it (TD2: "lot de soumission signé en XAdES").

The signature is an IHE DSG signature document (ITI TF-3 §5.5) in the same submission set: a DocumentEntry
with typeCode E1762 (ASTM, "Full Document"; JDV_J07) whose bytes are an XAdES `ds:Signature` enveloping a
`ds:Manifest` with one `ds:Reference` per other document of the set (URI = its uniqueId as `urn:oid:`,
DigestValue = SHA-256 of the bytes received). The simulator checks, in this order: exactly one signature
document, member of the set; its signer certificate issued by a CA of the trust store and valid now (not
trusted because the request carries it); the XAdES signature (SignedInfo, SignedProperties, KeyInfo); the
Manifest covering every document of the set, and only them, with the digests of the bytes received.
Every refusal is an XDSRegistryError in the RegistryResponse [U: the DMP's own error texts are not public].
"""

from __future__ import annotations

import base64
import hashlib

from lxml import etree
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.xades import XAdESVerifier

from dcc.simulator.ns import _PARSER
from dcc.simulator.trust import TrustStore, UntrustedSigner, certificate_from_base64

DS = "http://www.w3.org/2000/09/xmldsig#"
SIGNATURE_TYPE = ("E1762", "ASTM")
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
CODE = "XDSRegistryError"

Error = tuple[str, str, str]


def _uri(unique_id: str) -> str:
    return unique_id if unique_id.startswith("urn:") else f"urn:oid:{unique_id}"


def verify_signature_document(content: bytes | None, signed: dict[str, bytes], trust: TrustStore,
                              location: str) -> list[Error]:
    """Errors of the signature document `content` over `signed` (uniqueId -> bytes received)."""
    if content is None:
        return [(CODE, "document de signature du lot absent du message", location)]
    try:
        root = etree.fromstring(content, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        return [(CODE, f"document de signature du lot illisible : {exc}", location)]
    if root.tag != f"{{{DS}}}Signature":
        return [(CODE, "le document de signature du lot n'est pas une ds:Signature", location)]
    cert_text = root.findtext(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate") or ""
    if not cert_text.strip():
        return [(CODE, "signature du lot sans certificat du signataire", location)]
    try:
        cert = certificate_from_base64(cert_text)
    except ValueError as exc:
        return [(CODE, f"certificat du signataire du lot illisible : {exc}", location)]
    try:
        trust.check(cert)
    except UntrustedSigner as exc:
        return [(CODE, f"signataire du lot refusé : {exc.reason}", location)]
    try:
        results = XAdESVerifier().verify(root, x509_cert=cert)
    except (InvalidSignature, InvalidInput) as exc:
        return [(CODE, f"signature XAdES du lot invalide : {exc}", location)]
    manifest = next((r.signed_xml.find(f"{{{DS}}}Manifest") for r in results
                     if r.signed_xml is not None and r.signed_xml.tag == f"{{{DS}}}Object"), None)
    if manifest is None:
        return [(CODE, "signature du lot sans ds:Manifest signé", location)]
    digests: dict[str, str] = {}
    for reference in manifest.iterfind(f"{{{DS}}}Reference"):
        method = reference.find(f"{{{DS}}}DigestMethod")
        if method is None or method.get("Algorithm") != SHA256:
            return [(CODE, "signature du lot : empreinte SHA-256 attendue dans le Manifest", location)]
        digests[reference.get("URI", "")] = (reference.findtext(f"{{{DS}}}DigestValue") or "").strip()
    errors: list[Error] = []
    expected = {_uri(unique_id): content for unique_id, content in signed.items()}
    for uri, document in expected.items():
        if uri not in digests:
            errors.append((CODE, f"document {uri} non couvert par la signature du lot", location))
        elif digests[uri] != base64.b64encode(hashlib.sha256(document).digest()).decode("ascii"):
            errors.append((CODE, f"empreinte du document {uri} ≠ celle signée dans le lot", location))
    for uri in sorted(set(digests) - set(expected)):
        errors.append((CODE, f"la signature du lot couvre {uri}, absent du lot", location))
    return errors
