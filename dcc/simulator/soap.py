"""SOAP 1.2 of the simulator: MTOM / SOAP parsing, the VIHF check and the RegistryResponse / SOAP Fault answers.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import math
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser

from cryptography import x509
from fastapi.responses import Response
from lxml import etree
from signxml import XMLVerifier
from signxml.exceptions import InvalidInput, InvalidSignature

from dcc.simulator.ns import (
    _PARSER,
    ACTION_ITI57_RESPONSE,
    ACTION_RESPONSE,
    FAILURE,
    NS,
    RS,
    SEVERITY_ERROR,
    SOAP,
    SUCCESS,
    WSA,
)
from dcc.simulator.registry import SoapFault
from dcc.simulator.tls import ClientMismatch, check_client_binding
from dcc.simulator.trust import TrustStore, UntrustedSigner, certificate_from_base64

# --- MTOM / SOAP parsing ------------------------------------------------------------------------------


@dataclass
class ParsedRequest:
    envelope: etree._Element
    parts: dict[str, bytes]  # Content-ID (without <>) -> bytes
    message_id: str = ""


def parse_mtom(content_type: str, body: bytes) -> ParsedRequest:
    ctype = content_type.lower()
    if not ctype.startswith("multipart/related") or "application/xop+xml" not in ctype:
        raise SoapFault(
            "InvalidMessage",
            'Le message doit être MTOM/XOP (multipart/related, type="application/xop+xml").',
        )
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise SoapFault("InvalidMessage", "Corps multipart illisible.")
    parts: dict[str, bytes] = {}
    root_bytes: bytes | None = None
    start = message.get_param("start")
    start_id = start.strip().strip("<>") if isinstance(start, str) else None
    for index, part in enumerate(message.iter_parts()):
        cid = str(part.get("Content-ID", "")).strip().strip("<>")
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            raise SoapFault("InvalidMessage", f"Partie MIME {index} illisible.")
        if (start_id is not None and cid == start_id) or (start_id is None and index == 0):
            if not part.get_content_type() == "application/xop+xml":
                raise SoapFault("InvalidMessage", "La partie racine doit être de type application/xop+xml.")
            root_bytes = payload
        else:
            parts[cid] = payload
    if root_bytes is None:
        raise SoapFault("InvalidMessage", "Partie racine SOAP introuvable (paramètre start).")
    return _envelope_request(root_bytes, parts)


def _envelope_request(xml: bytes, parts: dict[str, bytes]) -> ParsedRequest:
    """The SOAP 1.2 envelope in `xml` (SoapFault when unreadable or not SOAP 1.2), with its MIME parts."""
    try:
        envelope = etree.fromstring(xml, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault("InvalidMessage", f"Enveloppe SOAP illisible : {exc}") from exc
    if envelope.tag != f"{{{SOAP}}}Envelope":
        raise SoapFault("VersionMismatch", "Enveloppe SOAP 1.2 attendue.")
    return ParsedRequest(
        envelope=envelope, parts=parts, message_id=envelope.findtext("soap:Header/wsa:MessageID", "", NS)
    )


# The VIHF as the agency's mapping table sets it (ansforge/IG-hl7v2-volet-transmission-document-cda-r2,
# mapping.md "Mapping VIHF pour le DMP"): VIHF_Version "4.0", Authentification_Mode "INDIRECTE" (a structure
# with its seal certificate), Ressource_URN "urn:dmp", subject-id under the xspa name, 1st role mandatory.
VIHF_VERSION = "4.0"
SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
SUBJECT_ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
CLOCK_SKEW = dt.timedelta(minutes=1)


def _instant(value: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def verify_vihf(envelope: etree._Element, trust: TrustStore,
                client_cert: x509.Certificate | None = None) -> dict[str, list[str]]:
    """Verify the VIHF and return its attributes. The signer certificate must be issued by a CA of the trust
    store and valid now (the certificate the request carries is not trusted by itself), the signature must
    cover the assertion, the assertion must be inside its Conditions window and its attributes those of
    VIHF 4.0. Over mutual TLS (`client_cert`: the connection's certificate), the seal and the TLS client
    certificate must name the same structure (dcc.simulator.tls.check_client_binding). Refusals are SOAP
    faults with the WS-Security 1.1 fault codes (§12) IHE XUA uses [U: the DMP's
    own reason texts are not public]."""
    assertion = envelope.find("soap:Header/wsse:Security/saml:Assertion", NS)
    if assertion is None:
        raise SoapFault(
            "wsse:InvalidSecurity", "Jeton VIHF (assertion SAML) absent de l'en-tête wsse:Security."
        )
    cert_text = assertion.findtext("ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", "", NS)
    if not cert_text.strip():
        raise SoapFault("wsse:InvalidSecurity", "Le VIHF n'est pas signé (certificat absent).")
    try:
        cert = certificate_from_base64(cert_text)
    except ValueError as exc:
        raise SoapFault("wsse:InvalidSecurityToken", f"Certificat du VIHF illisible : {exc}") from exc
    try:
        trust.check(cert)
    except UntrustedSigner as exc:
        raise SoapFault("wsse:FailedAuthentication", f"Signataire du VIHF refusé : {exc.reason}.") from exc
    standalone = etree.fromstring(etree.tostring(assertion), parser=_PARSER)
    try:
        XMLVerifier().verify(standalone, x509_cert=cert, id_attribute="ID", expect_references=1)
    except (InvalidSignature, InvalidInput) as exc:
        raise SoapFault("wsse:FailedCheck", f"Signature du VIHF invalide : {exc}") from exc
    issuer = assertion.findtext("saml:Issuer", "", NS).strip()
    if issuer != cert.subject.rfc4514_string():
        raise SoapFault("wsse:InvalidSecurityToken",
                        "Issuer du VIHF ≠ DN du certificat de cachet qui le signe.")
    try:
        check_client_binding(client_cert, cert)
    except ClientMismatch as exc:
        raise SoapFault("wsse:FailedAuthentication", f"Connexion TLS refusée pour ce VIHF : {exc}.") from exc
    conditions = assertion.find("saml:Conditions", NS)
    if conditions is not None:
        now = dt.datetime.now(dt.UTC)
        not_before = _instant(conditions.get("NotBefore", "")) if conditions.get("NotBefore") else None
        not_after = _instant(conditions.get("NotOnOrAfter", "")) if conditions.get("NotOnOrAfter") else None
        if (conditions.get("NotBefore") and not_before is None) or (
                conditions.get("NotOnOrAfter") and not_after is None):
            raise SoapFault("wsse:InvalidSecurityToken", "Conditions du VIHF : date illisible.")
        if (not_before is not None and now + CLOCK_SKEW < not_before) or (
                not_after is not None and now - CLOCK_SKEW >= not_after):
            raise SoapFault("wsse:MessageExpired", "VIHF hors de sa période de validité (Conditions).")
    attributes: dict[str, list[str]] = {}
    name_id = assertion.findtext("saml:Subject/saml:NameID", "", NS)
    attributes["NameID"] = [name_id]
    for attr in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS):
        values: list[str] = []
        for value in attr.iterfind("saml:AttributeValue", NS):
            child = next(iter(value), None)
            values.append(child.get("code", "") if child is not None else (value.text or "").strip())
        attributes[attr.get("Name", "")] = values
    problems: list[str] = []
    version = attributes.get("VIHF_Version", [""])[0]
    if version != VIHF_VERSION:
        problems.append(f"VIHF_Version « {version} » (attendu {VIHF_VERSION})")
    if attributes.get("Authentification_Mode", [""])[0] != "INDIRECTE":
        problems.append("Authentification_Mode ≠ INDIRECTE")
    if attributes.get("Ressource_URN", [""])[0] != "urn:dmp":
        problems.append("Ressource_URN ≠ urn:dmp")
    for required in ("Identifiant_Structure", "Secteur_Activite", SUBJECT_ID, SUBJECT_ROLE,
                     "urn:oasis:names:tc:xacml:2.0:resource:resource-id", "LPS_Nom", "LPS_Version",
                     "LPS_ID_HOMOLOGATION_DMP"):
        if not any(attributes.get(required, [])):
            problems.append(f"attribut {required} absent")
    if not name_id.strip():
        problems.append("Subject/NameID absent")
    if problems:
        raise SoapFault("wsse:InvalidSecurityToken", "VIHF non conforme : " + " ; ".join(problems) + ".")
    return attributes


def parse_soap(content_type: str, body: bytes) -> ParsedRequest:
    """A SOAP 1.2 request, plain (`application/soap+xml`) or MTOM."""
    if content_type.lower().startswith("multipart/"):
        return parse_mtom(content_type, body)
    if not content_type.lower().startswith("application/soap+xml"):
        raise SoapFault("InvalidMessage", "Le message doit être SOAP 1.2 (application/soap+xml) ou MTOM.")
    return _envelope_request(body, {})


def _check_action(envelope: etree._Element, expected: str) -> None:
    action = envelope.findtext("soap:Header/wsa:Action", "", NS).strip()
    if action != expected:
        raise SoapFault("wsa:ActionNotSupported", f"Action WS-Addressing « {action} » non prise en charge.")



# --- responses -----------------------------------------------------------------------------------


def _soap_envelope(relates_to: str, body_child: etree._Element, action: str) -> bytes:
    envelope = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP, "wsa": WSA})
    header = etree.SubElement(envelope, f"{{{SOAP}}}Header")
    etree.SubElement(header, f"{{{WSA}}}Action").text = action
    etree.SubElement(header, f"{{{WSA}}}MessageID").text = f"urn:uuid:{uuid.uuid4()}"
    if relates_to:
        etree.SubElement(header, f"{{{WSA}}}RelatesTo").text = relates_to
    etree.SubElement(envelope, f"{{{SOAP}}}Body").append(body_child)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def registry_response(relates_to: str, errors: list[tuple[str, str, str]] | None = None) -> bytes:
    response = etree.Element(
        f"{{{RS}}}RegistryResponse", nsmap={"rs": RS}, status=FAILURE if errors else SUCCESS
    )
    if errors:
        error_list = etree.SubElement(response, f"{{{RS}}}RegistryErrorList")
        for code, context, location in errors:
            etree.SubElement(
                error_list,
                f"{{{RS}}}RegistryError",
                errorCode=code,
                codeContext=context,
                severity=SEVERITY_ERROR,
                location=location,
            )
    return _soap_envelope(relates_to, response, ACTION_RESPONSE)


def soap_fault(fault: SoapFault, relates_to: str = "") -> bytes:
    el = etree.Element(f"{{{SOAP}}}Fault")
    code = etree.SubElement(el, f"{{{SOAP}}}Code")
    etree.SubElement(code, f"{{{SOAP}}}Value").text = "soap:Sender" if fault.sender else "soap:Receiver"
    sub = etree.SubElement(code, f"{{{SOAP}}}Subcode")
    etree.SubElement(sub, f"{{{SOAP}}}Value").text = fault.subcode
    reason = etree.SubElement(el, f"{{{SOAP}}}Reason")
    text = etree.SubElement(reason, f"{{{SOAP}}}Text")
    text.text = fault.reason
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    return _soap_envelope(relates_to, el, "http://www.w3.org/2005/08/addressing/soap/fault")


def _with_action(soap: bytes, action: str = ACTION_ITI57_RESPONSE) -> bytes:
    """A RegistryResponse envelope answered under another transaction's response action."""
    return soap.replace(ACTION_RESPONSE.encode(), action.encode(), 1)


def mtom_response(soap: bytes, status: int = 200) -> Response:
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    cid = f"root.{uuid.uuid4().hex}@dmp-simulator"
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n'
            f"Content-Transfer-Encoding: binary\r\nContent-ID: <{cid}>\r\n\r\n"
        ).encode("ascii")
        + soap
        + f"\r\n--{boundary}--\r\n".encode("ascii")
    )
    media = (
        f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; start="<{cid}>"; '
        f'start-info="application/soap+xml"'
    )
    return Response(content=body, status_code=status, media_type=media)


def _unavailable(reason: str, retry_after: float | None = None) -> Response:
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after is not None else {}
    return Response(
        content=reason.encode("utf-8"),
        status_code=503,
        media_type="text/plain; charset=utf-8",
        headers=headers,
    )


