"""ITI-41 over real HTTP on loopback: the transport against the DMP simulator started in a thread."""

from __future__ import annotations

import base64
import datetime as dt
import email.policy
import hashlib
from email.parser import BytesParser
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from lxml import etree
from signxml import XMLVerifier
from signxml.exceptions import InvalidSignature
from signxml.xades import XAdESVerifier

from dcc.adapters.national_record import (
    SenderIdentity,
    XdsTransport,
    entry_from_cda,
    entry_uuid_for,
    make_demo_identity,
)
from dcc.adapters.national_record.xds import XdsMetadataUpdater, build_submission, parse_retry_after
from dcc.errors import DeliveryError
from dcc.simulator.samples import sample_cda
from dcc.simulator.server import RunningServer

NS = {
    "soap": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "xdsb": "urn:ihe:iti:xds-b:2007",
    "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
    "xop": "http://www.w3.org/2004/08/xop/include",
}
STANDARD_DE_SCHEMES = {
    "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a",  # classCode
    "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983",  # typeCode
    "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d",  # formatCode
    "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f",  # confidentialityCode
    "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1",  # healthcareFacilityTypeCode
    "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead",  # practiceSettingCode
    "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d",  # author
}
DS = "http://www.w3.org/2000/09/xmldsig#"
STRUCTURE = "1750100125"


def _transport(server: RunningServer, identity: SenderIdentity) -> XdsTransport:
    return XdsTransport(f"{server.url}/xds/iti41", identity=identity, timeout=10.0)


def _state(server: RunningServer) -> list[dict[str, object]]:
    state: list[dict[str, object]] = httpx.get(f"{server.url}/_state").json()
    return state


def _set_faults(server: RunningServer, spec: str) -> None:
    httpx.post(f"{server.url}/_faults", content=spec.encode()).raise_for_status()


def test_submission_is_stored_with_its_sha256(server: RunningServer, identity: SenderIdentity) -> None:
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.99.100")
    result = _transport(server, identity).submit(cda, entry_from_cda(cda))
    assert result.status == "Success"
    assert result.entry_uuid == entry_uuid_for("1.2.250.1.213.1.1.9.99.100")
    [stored] = _state(server)
    assert stored["unique_id"] == "1.2.250.1.213.1.1.9.99.100"
    assert stored["sha256"] == hashlib.sha256(cda).hexdigest()
    assert stored["patient_id"] == "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert stored["type_code"] == "34794-8"
    assert stored["confidentiality"] == ["N"]
    assert stored["submissions"] == 1
    assert stored["visible_to_patient"] is True
    assert stored["replaced_by"] is None
    fetched = httpx.get(f"{server.url}/_documents/1.2.250.1.213.1.1.9.99.100")
    assert fetched.content == cda


def test_raw_request_is_mtom_with_standard_metadata(
    server: RunningServer, identity: SenderIdentity, dump_dir: Path
) -> None:
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.99.101", note="ligne 1\nligne 2\r\n\té")
    _transport(server, identity).submit(
        cda, entry_from_cda(cda, extra_confidentiality=("INVISIBLE_PATIENT",))
    )
    [dump] = sorted(dump_dir.glob("*-POST-xds_iti41.http"))
    raw = dump.read_bytes()
    head, _, body = raw.partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    assert request_line == "POST /xds/iti41 HTTP/1.1"
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in header_lines)}
    content_type = headers["content-type"]
    assert content_type.startswith("multipart/related;")
    assert 'type="application/xop+xml"' in content_type
    assert 'start-info="application/soap+xml"' in content_type

    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts = list(message.iter_parts())
    assert len(parts) == 3  # SOAP, the CDA, the submission set's signature document
    start = message.get_param("start")
    assert parts[0]["Content-ID"] == start
    assert parts[0].get_content_type() == "application/xop+xml"
    soap = etree.fromstring(parts[0].get_payload(decode=True))
    assert (
        soap.findtext("soap:Header/wsa:Action", namespaces=NS)
        == "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
    )
    assert soap.findtext("soap:Header/wsa:MessageID", namespaces=NS).startswith("urn:uuid:")
    assert soap.findtext("soap:Header/wsa:To", namespaces=NS).endswith("/xds/iti41")

    extrinsic, signature_entry = soap.findall(".//rim:ExtrinsicObject", NS)
    assert extrinsic.get("objectType") == "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
    assert extrinsic.get("mimeType") == "text/xml"
    schemes = {c.get("classificationScheme") for c in extrinsic.findall("rim:Classification", NS)}
    assert schemes == STANDARD_DE_SCHEMES
    conf = [
        c.get("nodeRepresentation")
        for c in extrinsic.findall("rim:Classification", NS)
        if c.get("classificationScheme") == "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
    ]
    assert conf == ["N", "INVISIBLE_PATIENT"]
    ids = {
        e.get("identificationScheme"): e.get("value") for e in extrinsic.findall("rim:ExternalIdentifier", NS)
    }
    assert ids["urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"] == "1.2.250.1.213.1.1.9.99.101"
    assert (
        ids["urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"]
        == "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    )
    slots = {
        s.get("name"): [v.text for v in s.findall("rim:ValueList/rim:Value", NS)]
        for s in extrinsic.findall("rim:Slot", NS)
    }
    [package] = soap.findall(".//rim:RegistryPackage", NS)
    ss_ids = {e.get("identificationScheme") for e in package.findall("rim:ExternalIdentifier", NS)}
    assert ss_ids == {
        "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8",
        "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832",
        "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",
    }
    assert "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500" in {
        c.get("classificationScheme") for c in package.findall("rim:Classification", NS)
    }
    assert any(
        c.get("classificationNode") == "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
        for c in soap.findall(".//rim:RegistryObjectList/rim:Classification", NS)
    )
    members = soap.findall(".//rim:Association", NS)
    assert {m.get("associationType") for m in members} == {
        "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"}
    assert [(m.get("sourceObject"), m.get("targetObject")) for m in members] == [
        (package.get("id"), extrinsic.get("id")), (package.get("id"), signature_entry.get("id"))]

    include = soap.find(".//xdsb:Document/xop:Include", NS)
    assert include is not None
    cid = include.get("href").removeprefix("cid:")
    assert parts[1]["Content-ID"] == f"<{cid}>"
    assert parts[1]["Content-Transfer-Encoding"] == "binary"
    document = parts[1].get_payload(decode=True)
    assert document == cda
    assert slots["hash"] == [hashlib.sha1(document).hexdigest()]
    assert slots["size"] == [str(len(document))]

    # the signature document (IHE DSG): typeCode E1762 (ASTM, JDV_J07), XAdES by the structure's seal, issued
    # by the trusted CA, over a Manifest holding the CDA's uniqueId and SHA-256
    codes = {c.get("classificationScheme"): (c.get("nodeRepresentation"), c.findtext("rim:Slot/rim:ValueList/rim:Value",
                                                                                    namespaces=NS))
             for c in signature_entry.findall("rim:Classification", NS)}
    assert codes["urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"] == ("E1762", "ASTM")
    [sig_include] = [d.find("xop:Include", NS) for d in soap.findall(".//xdsb:Document", NS)
                     if d.get("id") == signature_entry.get("id")]
    assert parts[2]["Content-ID"] == f"<{sig_include.get('href').removeprefix('cid:')}>"
    signature = etree.fromstring(parts[2].get_payload(decode=True))
    seal_b64 = signature.findtext(".//ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces={"ds": DS})
    seal = x509.load_der_x509_certificate(base64.b64decode("".join(seal_b64.split())))
    assert identity.trust_anchor is not None
    seal.verify_directly_issued_by(x509.load_pem_x509_certificate(identity.trust_anchor.read_bytes()))
    results = XAdESVerifier().verify(signature, x509_cert=seal)
    [manifest] = [r.signed_xml.find(f"{{{DS}}}Manifest") for r in results
                  if r.signed_xml.tag == f"{{{DS}}}Object"]
    assert [(ref.get("URI"), ref.findtext(f"{{{DS}}}DigestValue")) for ref in manifest] == [
        ("urn:oid:1.2.250.1.213.1.1.9.99.101", base64.b64encode(hashlib.sha256(cda).digest()).decode())]
    assert signature.find(".//{http://uri.etsi.org/01903/v1.3.2#}SigningTime") is not None


def test_replacement_marks_the_old_entry(server: RunningServer, identity: SenderIdentity) -> None:
    transport = _transport(server, identity)
    v1 = sample_cda(unique_id="1.2.250.1.213.1.1.9.99.105")
    v2 = sample_cda(unique_id="1.2.250.1.213.1.1.9.99.106", replaces="1.2.250.1.213.1.1.9.99.105", note="v2")
    transport.submit(v1, entry_from_cda(v1))
    with XdsMetadataUpdater(f"{server.url}/xds/iti57", f"{server.url}/xds/iti18", identity=identity) as registry:
        target = registry.replacement_target(entry_from_cda(v2))  # ITI-18: the registry's entryUUID of v1
        assert target is not None
        transport.submit(v2, entry_from_cda(v2), replaced_entry_uuid=target.entry_uuid)
        retry_target = registry.replacement_target(entry_from_cda(v2))  # v1 is now Deprecated, still found
        assert retry_target is not None and retry_target.entry_uuid == target.entry_uuid
    transport.submit(v2, entry_from_cda(v2), replaced_entry_uuid=retry_target.entry_uuid)  # a retry is harmless
    with pytest.raises(DeliveryError) as caught:  # never a locally computed target
        transport.submit(v2, entry_from_cda(v2))
    assert caught.value.permanent and caught.value.error_code == "cible_remplacement_inconnue"
    state = {d["unique_id"]: d for d in _state(server)}
    assert state["1.2.250.1.213.1.1.9.99.105"]["replaced_by"] == "1.2.250.1.213.1.1.9.99.106"
    assert state["1.2.250.1.213.1.1.9.99.106"]["replaced_by"] is None
    assert state["1.2.250.1.213.1.1.9.99.106"]["submissions"] == 2


def test_invisible_to_patient(server: RunningServer, identity: SenderIdentity) -> None:
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.99.108")
    _transport(server, identity).submit(
        cda, entry_from_cda(cda, extra_confidentiality=("INVISIBLE_PATIENT",))
    )
    [stored] = _state(server)
    assert stored["visible_to_patient"] is False
    assert stored["confidentiality"] == ["N", "INVISIBLE_PATIENT"]


def test_structure_must_match_the_author_institution(server: RunningServer, identity: SenderIdentity,
                                                     tmp_path: Path) -> None:
    # another structure's seal, issued by the same (trusted) CA: authenticated, but not the document's author
    assert identity.trust_anchor is not None
    other = make_demo_identity(tmp_path / "other", "Clinique X", "1330798765", ca_dir=identity.trust_anchor.parent)
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.99.109")
    with pytest.raises(DeliveryError) as caught:
        _transport(server, other).submit(cda, entry_from_cda(cda))
    assert caught.value.permanent is True
    assert caught.value.error_code == "XDSRegistryMetadataError"
    assert "Identifiant_Structure" in caught.value.message


def test_vihf_signature_verifies_with_identity_cert(identity: SenderIdentity) -> None:
    cda = sample_cda()
    entry = entry_from_cda(cda)
    submission = build_submission(cda, entry, identity=identity, endpoint="http://dmp.invalid/xds/iti41")
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {submission.content_type}\r\n\r\n".encode() + submission.body
    )
    soap = etree.fromstring(next(iter(message.iter_parts())).get_payload(decode=True))
    assertion = soap.find("soap:Header/wsse:Security/saml:Assertion", NS)
    assert assertion is not None
    standalone = etree.fromstring(etree.tostring(assertion))
    verified = XMLVerifier().verify(
        standalone, x509_cert=identity.cert_pem().decode(), id_attribute="ID", expect_references=1
    )
    signed = verified.signed_xml
    assert signed is not None
    assert signed.findtext("saml:Subject/saml:NameID", namespaces=NS) == entry.author_id
    attrs = {
        a.get("Name"): a.findtext("saml:AttributeValue", namespaces=NS)
        for a in signed.findall("saml:AttributeStatement/saml:Attribute", NS)
    }
    assert attrs["Identifiant_Structure"] == STRUCTURE
    assert attrs["urn:oasis:names:tc:xacml:2.0:resource:resource-id"] == entry.patient_id
    assert attrs["Ressource_URN"] == "urn:dmp"
    purpose = signed.find(
        "saml:AttributeStatement/saml:Attribute[@Name='urn:oasis:names:tc:xspa:1.0:subject:purposeofuse']"
        "/saml:AttributeValue/*",
        NS,
    )
    assert purpose is not None and purpose.get("code") == "normal"
    # the agency's "Mapping VIHF pour le DMP" table: VIHF_Version 4.0, INDIRECTE, subject-id "Nom, Prénom"
    # under the xspa name, roles: profession (TRE_G15) then the physician's know-how (TRE_R01)
    assert attrs["VIHF_Version"] == "4.0"
    assert attrs["Authentification_Mode"] == "INDIRECTE"
    assert attrs["urn:oasis:names:tc:xspa:1.0:subject:subject-id"] == "MULLER, Charles"
    assert "urn:oasis:names:tc:xacml:1.0:subject:subject-id" not in attrs
    roles = signed.findall(
        "saml:AttributeStatement/saml:Attribute[@Name='urn:oasis:names:tc:xacml:2.0:subject:role']"
        "/saml:AttributeValue/*", NS)
    assert [(r.get("code"), r.get("codeSystem")) for r in roles] == [
        ("10", "1.2.250.1.71.1.2.7"), ("SM36", "1.2.250.1.71.4.2.5")]
    # validity window: NotBefore = IssueInstant, NotOnOrAfter a few minutes later; no AudienceRestriction
    conditions = signed.find("saml:Conditions", NS)
    assert conditions is not None and len(conditions) == 0
    not_before = dt.datetime.fromisoformat(conditions.get("NotBefore").replace("Z", "+00:00"))
    not_after = dt.datetime.fromisoformat(conditions.get("NotOnOrAfter").replace("Z", "+00:00"))
    assert conditions.get("NotBefore") == signed.get("IssueInstant")
    assert dt.timedelta(0) < not_after - not_before <= dt.timedelta(minutes=10)
    # Issuer = the DN of the seal certificate that signs the assertion
    seal = x509.load_pem_x509_certificate(identity.cert_pem())
    assert signed.findtext("saml:Issuer", namespaces=NS) == seal.subject.rfc4514_string()
    # Signature element sits right after Issuer (SAML schema order).
    assert etree.QName(standalone[1]).localname == "Signature"

    tampered = etree.fromstring(etree.tostring(assertion).replace(STRUCTURE.encode(), b"1999999999"))
    with pytest.raises(InvalidSignature):
        XMLVerifier().verify(tampered, x509_cert=identity.cert_pem().decode(), id_attribute="ID")


def test_response_classification_with_mock_transport(identity: SenderIdentity) -> None:
    soap_ok = (
        b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
        b'<rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0" '
        b'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"/></s:Body></s:Envelope>'
    )
    soap_unknown_patient = soap_ok.replace(
        b'Success"/>',
        b'Failure"><rs:RegistryErrorList>'
        b'<rs:RegistryError errorCode="XDSUnknownPatientId" codeContext="INS inconnu" '
        b'severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"/></rs:RegistryErrorList>'
        b"</rs:RegistryResponse>",
    )
    answers = iter(
        [
            httpx.Response(200, content=soap_ok, headers={"Content-Type": "application/soap+xml"}),
            httpx.Response(
                200, content=soap_unknown_patient, headers={"Content-Type": "application/soap+xml"}
            ),
            httpx.Response(429, content=b"slow down", headers={"Retry-After": "7"}),
            httpx.Response(502, content=b"<html>bad gateway</html>", headers={"Content-Type": "text/html"}),
        ]
    )
    client = httpx.Client(transport=httpx.MockTransport(lambda request: next(answers)))
    transport = XdsTransport("http://dmp.invalid/xds/iti41", identity=identity, client=client)
    cda = sample_cda()
    entry = entry_from_cda(cda)
    assert transport.submit(cda, entry).status == "Success"
    with pytest.raises(DeliveryError) as unknown:
        transport.submit(cda, entry)
    assert (unknown.value.permanent, unknown.value.error_code) == (True, "XDSUnknownPatientId")
    with pytest.raises(DeliveryError) as throttled:
        transport.submit(cda, entry)
    assert (throttled.value.permanent, throttled.value.retry_after) == (False, 7.0)
    with pytest.raises(DeliveryError) as gateway:
        transport.submit(cda, entry)
    assert (gateway.value.permanent, gateway.value.status) == (False, 502)


def test_parse_retry_after() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("demain") is None
