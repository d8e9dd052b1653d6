"""Every XDS request `dcc demo` sends (captured by the simulator's `--dmp-dump`) carries a VIHF and, for ITI-41,
a submission-set signature that verify on their own: checked here with lxml and signxml against the demo CA
(<var>/pki/ca.pem), independently of the simulator's and the sender's code."""

from __future__ import annotations

import base64
import datetime as dt
import email.policy
import hashlib
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from cryptography import x509
from lxml import etree
from signxml import XMLVerifier
from signxml.xades import XAdESVerifier

from tests.e2e.conftest import DemoRun

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NS = {
    "soap": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
    "xdsb": "urn:ihe:iti:xds-b:2007",
    "xop": "http://www.w3.org/2004/08/xop/include",
}
DE_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"


def _parts(path: Path) -> tuple[etree._Element, dict[str, bytes]]:
    """The SOAP envelope and the other MIME parts (by Content-ID) of a dumped MTOM request."""
    head, _, body = path.read_bytes().partition(b"\r\n\r\n")
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in head.decode("latin-1").split("\r\n")[1:])}
    if headers["content-type"].startswith("application/soap+xml"):  # a plain SOAP request (ITI-18)
        return etree.fromstring(body), {}
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {headers['content-type']}\r\n\r\n".encode() + body)
    assert isinstance(message, EmailMessage)
    parts = list(message.iter_parts())
    soap = etree.fromstring(parts[0].get_payload(decode=True))
    return soap, {str(p["Content-ID"]).strip("<>"): p.get_payload(decode=True) for p in parts[1:]}


def _issued_by_demo_ca(cert_b64: str, ca: x509.Certificate) -> x509.Certificate:
    cert = x509.load_der_x509_certificate(base64.b64decode("".join(cert_b64.split())))
    cert.verify_directly_issued_by(ca)  # raises unless the demo CA signed it
    now = dt.datetime.now(dt.UTC)
    assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc
    return cert


def _check_vihf(soap: etree._Element, ca: x509.Certificate) -> None:
    assertion = soap.find("soap:Header/wsse:Security/saml:Assertion", NS)
    assert assertion is not None
    seal = _issued_by_demo_ca(assertion.findtext("ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate",
                                                 namespaces=NS), ca)
    standalone = etree.fromstring(etree.tostring(assertion))
    signed = XMLVerifier().verify(standalone, x509_cert=seal, id_attribute="ID", expect_references=1).signed_xml
    assert signed is not None
    assert signed.findtext("saml:Issuer", namespaces=NS) == seal.subject.rfc4514_string()
    attrs = {a.get("Name"): a.findtext("saml:AttributeValue", namespaces=NS)
             for a in signed.iterfind("saml:AttributeStatement/saml:Attribute", NS)}
    # the agency's "Mapping VIHF pour le DMP" table
    assert attrs["VIHF_Version"] == "4.0"
    assert attrs["Authentification_Mode"] == "INDIRECTE"
    assert attrs["Ressource_URN"] == "urn:dmp"
    family, _, given = attrs["urn:oasis:names:tc:xspa:1.0:subject:subject-id"].partition(", ")
    assert family and given
    roles = signed.findall("saml:AttributeStatement/saml:Attribute[@Name='urn:oasis:names:tc:xacml:2.0:subject:role']"
                           "/saml:AttributeValue/*", NS)
    assert roles and roles[0].get("codeSystem") == "1.2.250.1.71.1.2.7"
    conditions = signed.find("saml:Conditions", NS)
    assert conditions is not None and conditions.get("NotBefore") < conditions.get("NotOnOrAfter")


def _check_submission_signature(soap: etree._Element, parts: dict[str, bytes], ca: x509.Certificate) -> None:
    includes = {d.get("id"): d.find("xop:Include", NS).get("href").removeprefix("cid:")
                for d in soap.iterfind(".//xdsb:ProvideAndRegisterDocumentSetRequest/xdsb:Document", NS)}
    signatures, documents = [], {}
    for obj in soap.iterfind(".//rim:ExtrinsicObject", NS):
        type_code = next(c.get("nodeRepresentation") for c in obj.iterfind("rim:Classification", NS)
                         if c.get("classificationScheme") == DE_TYPE)
        content = parts[includes[obj.get("id")]]
        if type_code == "E1762":
            signatures.append(content)
        else:
            unique_id = next(e.get("value") for e in obj.iterfind("rim:ExternalIdentifier", NS)
                             if e.get("identificationScheme") == DE_UNIQUE_ID)
            documents[f"urn:oid:{unique_id}"] = base64.b64encode(hashlib.sha256(content).digest()).decode()
    [signature_bytes] = signatures
    signature = etree.fromstring(signature_bytes)
    seal = _issued_by_demo_ca(signature.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS), ca)
    results = XAdESVerifier().verify(signature, x509_cert=seal)
    [manifest] = [r.signed_xml.find("ds:Manifest", NS) for r in results
                  if r.signed_xml is not None and r.signed_xml.tag == f"{{{NS['ds']}}}Object"]
    assert {ref.get("URI"): ref.findtext("ds:DigestValue", namespaces=NS) for ref in manifest} == documents


def test_every_xds_request_of_the_demo_carries_verifiable_signatures(demo_run: DemoRun) -> None:
    """The session's demo run (tests/e2e/conftest.py): every request it sent was dumped, those the faulty
    national record failed or dropped too."""
    dump, var = demo_run.dump, demo_run.var
    ca = x509.load_pem_x509_certificate((var / "pki" / "ca.pem").read_bytes())
    submissions = sorted(dump.glob("*-POST-xds_iti41.http"))
    assert submissions, "the demo sent no ITI-41 request"
    for path in submissions:
        soap, parts = _parts(path)
        _check_vihf(soap, ca)
        _check_submission_signature(soap, parts, ca)
    others = sorted(dump.glob("*-POST-xds_iti18.http")) + sorted(dump.glob("*-POST-xds_iti57.http"))
    for path in others:  # queries and metadata updates carry the VIHF too
        _check_vihf(_parts(path)[0], ca)
