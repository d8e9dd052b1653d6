"""IHE XDS.b ITI-41 Provide and Register Document Set-b for the DMP: SOAP 1.2 + MTOM/XOP over HTTP.

- `build_envelope` builds the SOAP envelope with lxml: WS-Addressing headers, the VIHF (a SAML 2
  assertion signed with the sending structure's key, enveloped XML-DSig via signxml) in
  `wsse:Security`, and the ebRIM 3.0 SubmitObjectsRequest (DocumentEntry, SubmissionSet, HasMember,
  optional RPLC association).
- `pack_mtom` writes the `multipart/related; type="application/xop+xml"` body byte for byte (the
  stdlib email generator rewrites bare LF as CRLF inside binary parts, which would change the
  document's hash, so the body is written by hand; the receiving side parses it with `email`).
- `XdsTransport.submit` posts it with httpx and maps the RegistryResponse to a `SubmitResult` or
  a `DeliveryError` (permanent for metadata errors, transient for 5xx / 429 / network errors).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.message
import email.policy
import email.utils
import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from functools import lru_cache
from pathlib import Path
from typing import Any, Self

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, XMLSigner, methods

from dcc.adapters.national_record.metadata import CodedValue, DocumentEntry, check_codes
from dcc.errors import ConfigurationError, DeliveryError

# --- namespaces and IHE constants -------------------------------------------------------------------

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
DS = "http://www.w3.org/2000/09/xmldsig#"
XDSB = "urn:ihe:iti:xds-b:2007"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
XOP = "http://www.w3.org/2004/08/xop/include"
HL7 = "urn:hl7-org:v3"
XML_NS = "http://www.w3.org/XML/1998/namespace"

ACTION_ITI41 = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
ACTION_ITI41_RESPONSE = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"

UUID_DOC_ENTRY = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"  # stable DocumentEntry objectType
UUID_DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
UUID_DE_CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
UUID_DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
UUID_DE_FORMAT = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
UUID_DE_FACILITY = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
UUID_DE_PRACTICE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
UUID_DE_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
UUID_DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
UUID_DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
UUID_SS = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
UUID_SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
UUID_SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
UUID_SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
UUID_SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
UUID_SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"

OBJ_CLASSIFICATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
OBJ_EXTERNAL_ID = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier"
OBJ_ASSOCIATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association"
OBJ_REGISTRY_PACKAGE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"
ASSOC_HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
ASSOC_RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
STATUS_SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
STATUS_PARTIAL = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"

# VIHF (CI-SIS "Volet transport synchrone pour client lourd", v3/v4).
VIHF_VERSION = "3.0"
PURPOSE_OF_USE_SYSTEM = "1.2.250.1.213.1.1.4.248"  # TRE_R248-ModeAcces
ACTIVITY_SECTOR_SYSTEM = "1.2.250.1.71.4.2.4"
PROFESSION_SYSTEM = "1.2.250.1.71.1.2.7"  # TRE_G15-ProfessionSante [U: J65 rows not in the kit]
SPECIALTY_SYSTEM = "1.2.250.1.71.1.2.8"  # TRE_R38-SpecialiteOrdinale [U]

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
MAX_RESPONSE_BYTES = 5 * 1024 * 1024
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def new_oid() -> str:
    """A fresh UUID-derived OID (`2.25.<int>`) for submission set uniqueIds."""
    return f"2.25.{uuid.uuid4().int}"


def entry_uuid_for(unique_id: str) -> str:
    """The entryUUID dcc gives a DocumentEntry: stable per document uniqueId, so that a retry carries
    the same entryUUID and a later RPLC can target it without a stored query."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_OID, unique_id)}"


# --- sending identity -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SenderIdentity:
    """The sending structure (indirect authentication): its Struct_IdNat and its signing key pair."""

    id_nat: str  # Struct_IdNat, e.g. "1" + FINESS
    name: str
    key_path: Path  # PEM private key
    cert_path: Path  # PEM certificate
    activity_sector: str = "SA01"  # VIHF Secteur_Activite (TRE_R02-SecteurActivite)
    source_id: str = ""  # SubmissionSet.sourceId (OID of the sending system); derived if empty
    lps_name: str = "dcc"
    lps_version: str = "0.1.0"
    lps_homologation_id: str = "DCC-DEMO"

    @property
    def source_oid(self) -> str:
        return self.source_id or f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, 'dcc:' + self.id_nat).int}"

    def key_pem(self) -> bytes:
        return Path(self.key_path).read_bytes()

    def private_key(self) -> RSAPrivateKey | EllipticCurvePrivateKey:
        """The loaded private key (cached: loading an RSA key costs ~0.1 s)."""
        path = Path(self.key_path)
        return _load_key(str(path.resolve()), path.stat().st_mtime_ns)

    def cert_pem(self) -> bytes:
        return Path(self.cert_path).read_bytes()


@lru_cache(maxsize=16)
def _load_key(path: str, mtime_ns: int) -> RSAPrivateKey | EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, RSAPrivateKey | EllipticCurvePrivateKey):
        raise ConfigurationError(f"La clé de signature {path} doit être une clé RSA ou EC.")
    return key


def make_demo_identity(directory: Path, name: str, id_nat: str) -> SenderIdentity:
    """A SenderIdentity with a self-signed RSA certificate in `directory` (created once, then reused)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / "vihf-key.pem", directory / "vihf-cert.pem"
    if not (key_path.exists() and cert_path.exists()):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, id_nat),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{name} (démonstration)"),
            ]
        )
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=730))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=True,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_path.chmod(0o600)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return SenderIdentity(id_nat=id_nat, name=name, key_path=key_path, cert_path=cert_path)


# --- VIHF -------------------------------------------------------------------------------------------


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _vihf_attribute(statement: etree._Element, name: str, value: str | etree._Element) -> None:
    attribute = etree.SubElement(statement, _q(SAML, "Attribute"), Name=name)
    holder = etree.SubElement(attribute, _q(SAML, "AttributeValue"))
    if isinstance(value, str):
        holder.text = value
    else:
        holder.append(value)


def _ce(tag: str, code: str, system: str, display: str) -> etree._Element:
    el = etree.Element(_q(HL7, tag), nsmap={None: HL7, "xsi": XSI})
    el.set(_q(XSI, "type"), "CE")
    el.set("code", code)
    el.set("codeSystem", system)
    if display:
        el.set("displayName", display)
    return el


def _roles(specialty: CodedValue | None) -> list[etree._Element]:
    """subject:role values: the profession (G15) then, when present, the specialty (R38)."""
    if specialty is None:
        return [_ce("Role", "AUTOMATE", "1.2.250.1.213.1.1.4.6", "Automate")]
    profession, _, speciality = specialty.code.partition("/")
    profession = profession.removeprefix("G15_")
    roles = [_ce("Role", profession, PROFESSION_SYSTEM, "")]
    if speciality:
        roles.append(_ce("Role", speciality, SPECIALTY_SYSTEM, specialty.display))
    return roles


def build_vihf(
    identity: SenderIdentity, entry: DocumentEntry, *, purpose_of_use: str = "normal"
) -> etree._Element:
    """The VIHF SAML 2 assertion, signed (enveloped XML-DSig, RSA-SHA256, exc-c14n) by the structure."""
    assertion_id = f"_{uuid.uuid4().hex}"
    now = _utc_now()
    assertion = etree.Element(
        _q(SAML, "Assertion"),
        nsmap={"saml": SAML, "xsi": XSI, "xs": XSD},
        ID=assertion_id,
        IssueInstant=now,
        Version="2.0",
    )
    cert = x509.load_pem_x509_certificate(identity.cert_pem())
    issuer = etree.SubElement(
        assertion, _q(SAML, "Issuer"), Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
    )
    issuer.text = cert.subject.rfc4514_string()
    # Placeholder so that signxml puts ds:Signature right after Issuer, as the SAML schema requires.
    etree.SubElement(assertion, _q(DS, "Signature"), nsmap={"ds": DS}, Id="placeholder")
    subject = etree.SubElement(assertion, _q(SAML, "Subject"))
    name_id = etree.SubElement(
        subject, _q(SAML, "NameID"), Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    )
    name_id.text = entry.author_id
    authn = etree.SubElement(assertion, _q(SAML, "AuthnStatement"), AuthnInstant=now)
    context = etree.SubElement(authn, _q(SAML, "AuthnContext"))
    etree.SubElement(
        context, _q(SAML, "AuthnContextClassRef")
    ).text = "urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient"
    statement = etree.SubElement(assertion, _q(SAML, "AttributeStatement"))
    _vihf_attribute(statement, "Identifiant_Structure", identity.id_nat)
    _vihf_attribute(statement, "Secteur_Activite", f"{identity.activity_sector}^{ACTIVITY_SECTOR_SYSTEM}")
    _vihf_attribute(
        statement, "urn:oasis:names:tc:xacml:1.0:subject:subject-id", entry.author_person.split("^")[1]
    )
    role_attr = etree.SubElement(
        statement, _q(SAML, "Attribute"), Name="urn:oasis:names:tc:xacml:2.0:subject:role"
    )
    for role in _roles(entry.author_specialty):
        etree.SubElement(role_attr, _q(SAML, "AttributeValue")).append(role)
    _vihf_attribute(statement, "VIHF_Version", VIHF_VERSION)
    _vihf_attribute(statement, "Authentification_Mode", "INDIRECTE")
    _vihf_attribute(statement, "urn:oasis:names:tc:xacml:2.0:resource:resource-id", entry.patient_id)
    _vihf_attribute(statement, "Ressource_URN", "urn:dmp")
    _vihf_attribute(
        statement,
        "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse",
        _ce(
            "PurposeOfUse",
            purpose_of_use,
            PURPOSE_OF_USE_SYSTEM,
            "Accès normal" if purpose_of_use == "normal" else "",
        ),
    )
    _vihf_attribute(statement, "LPS_Nom", identity.lps_name)
    _vihf_attribute(statement, "LPS_Version", identity.lps_version)
    _vihf_attribute(statement, "LPS_ID_HOMOLOGATION_DMP", identity.lps_homologation_id)

    signer = XMLSigner(
        method=methods.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signed: etree._Element = signer.sign(
        assertion,
        key=identity.private_key(),
        cert=identity.cert_pem().decode("ascii"),
        reference_uri=f"#{assertion_id}",
        id_attribute="ID",
    )
    return signed


# --- ebRIM builders ---------------------------------------------------------------------------------


def _slot(parent: etree._Element, name: str, *values: str) -> None:
    slot = etree.SubElement(parent, _q(RIM, "Slot"), name=name)
    value_list = etree.SubElement(slot, _q(RIM, "ValueList"))
    for value in values:
        etree.SubElement(value_list, _q(RIM, "Value")).text = value


def _localized(parent: etree._Element, tag: str, value: str) -> None:
    holder = etree.SubElement(parent, _q(RIM, tag))
    string = etree.SubElement(holder, _q(RIM, "LocalizedString"), value=value, charset="UTF-8")
    string.set(_q(XML_NS, "lang"), "fr-FR")


def _new_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _classification(parent: etree._Element, scheme: str, obj: str, value: CodedValue) -> None:
    cl = etree.SubElement(
        parent,
        _q(RIM, "Classification"),
        id=_new_id(),
        classificationScheme=scheme,
        classifiedObject=obj,
        nodeRepresentation=value.code,
        objectType=OBJ_CLASSIFICATION,
    )
    _slot(cl, "codingScheme", value.scheme)
    _localized(cl, "Name", value.display or value.code)


def _author(parent: etree._Element, scheme: str, obj: str, entry: DocumentEntry) -> None:
    cl = etree.SubElement(
        parent,
        _q(RIM, "Classification"),
        id=_new_id(),
        classificationScheme=scheme,
        classifiedObject=obj,
        nodeRepresentation="",
        objectType=OBJ_CLASSIFICATION,
    )
    _slot(cl, "authorPerson", entry.author_person)
    _slot(cl, "authorInstitution", entry.author_institution)
    if entry.author_role:
        _slot(cl, "authorRole", entry.author_role)
    if entry.author_specialty is not None:
        s = entry.author_specialty
        _slot(cl, "authorSpecialty", f"{s.code}^{s.display}^{s.scheme}")


def _external_id(parent: etree._Element, scheme: str, obj: str, value: str, name: str) -> None:
    ei = etree.SubElement(
        parent,
        _q(RIM, "ExternalIdentifier"),
        id=_new_id(),
        identificationScheme=scheme,
        objectType=OBJ_EXTERNAL_ID,
        registryObject=obj,
        value=value,
    )
    _localized(ei, "Name", name)


@dataclass(frozen=True)
class Submission:
    """One ITI-41 request ready to post: the HTTP body, its Content-Type and the ids it carries."""

    body: bytes
    content_type: str
    message_id: str
    entry_uuid: str
    submission_set_unique_id: str
    document_cid: str


ITI41_NSMAP = {"soap": SOAP, "wsa": WSA, "xdsb": XDSB, "lcm": LCM, "rim": RIM, "xop": XOP}


def build_envelope(
    entry: DocumentEntry,
    *,
    identity: SenderIdentity,
    endpoint: str,
    document_cid: str,
    message_id: str,
    submission_set_unique_id: str,
    replaced_entry_uuid: str | None = None,
    submission_time: str | None = None,
) -> etree._Element:
    """The SOAP 1.2 envelope of the ProvideAndRegisterDocumentSetRequest (document as xop:Include)."""
    envelope = _soap_envelope(ACTION_ITI41, message_id=message_id, endpoint=endpoint,
                              vihf=build_vihf(identity, entry), nsmap=ITI41_NSMAP)
    body = envelope.find(_q(SOAP, "Body"))
    assert body is not None
    request = etree.SubElement(body, _q(XDSB, "ProvideAndRegisterDocumentSetRequest"))
    submit = etree.SubElement(request, _q(LCM, "SubmitObjectsRequest"))
    objects = etree.SubElement(submit, _q(RIM, "RegistryObjectList"))

    doc_id = entry_uuid_for(entry.unique_id)
    add_document_entry(objects, entry, entry_id=doc_id)
    ss_id = _new_id()
    add_submission_set(objects, entry, ss_id=ss_id, unique_id=submission_set_unique_id,
                       source_id=identity.source_oid, submission_time=submission_time)
    add_association(objects, ASSOC_HAS_MEMBER, ss_id, doc_id, SubmissionSetStatus="Original")
    if entry.replaces:
        add_association(objects, ASSOC_RPLC, doc_id, replaced_entry_uuid or entry_uuid_for(entry.replaces))

    document = etree.SubElement(request, _q(XDSB, "Document"), id=doc_id)
    etree.SubElement(document, _q(XOP, "Include"), href=f"cid:{document_cid}")
    return envelope


# --- MTOM/XOP ---------------------------------------------------------------------------------------


def pack_mtom(soap: bytes, document: bytes, *, document_cid: str, mime_type: str) -> tuple[bytes, str]:
    """(body, Content-Type) of a two-part MTOM message: the SOAP root part, then the document."""
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    root_cid = f"root.{uuid.uuid4().hex}@dcc"
    while boundary.encode() in soap or boundary.encode() in document:  # pragma: no cover - 2^-128
        boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    parts = [
        (
            f'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"; '
            f'action="{ACTION_ITI41}"\r\n'
            "Content-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{root_cid}>\r\n",
            soap,
        ),
        (
            f"Content-Type: {mime_type}\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{document_cid}>\r\n",
            document,
        ),
    ]
    body = (
        b"".join(
            b"--" + boundary.encode() + b"\r\n" + headers.encode("ascii") + b"\r\n" + payload + b"\r\n"
            for headers, payload in parts
        )
        + b"--"
        + boundary.encode()
        + b"--\r\n"
    )
    content_type = (
        f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; '
        f'start="<{root_cid}>"; start-info="application/soap+xml"; action="{ACTION_ITI41}"'
    )
    return body, content_type


def check_sendable(cda: bytes, entry: DocumentEntry) -> None:
    """Before building any request: the entry's codes are in their value sets (UnknownCode) and its hash
    and size are those of `cda` (permanent DeliveryError)."""
    check_codes(entry)
    if not entry.describes(cda):
        raise DeliveryError(
            "Les métadonnées ne correspondent pas au document (empreinte ou taille différente).",
            permanent=True,
            error_code="metadonnees_incoherentes",
        )


def build_submission(
    cda: bytes,
    entry: DocumentEntry,
    *,
    identity: SenderIdentity,
    endpoint: str,
    replaced_entry_uuid: str | None = None,
) -> Submission:
    """Check the codes, then build the signed MTOM request for `cda` (whose hash/size must match)."""
    check_sendable(cda, entry)
    document_cid = f"doc.{uuid.uuid4().hex}@dcc"
    message_id = f"urn:uuid:{uuid.uuid4()}"
    ss_unique_id = new_oid()
    envelope = build_envelope(
        entry,
        identity=identity,
        endpoint=endpoint,
        document_cid=document_cid,
        message_id=message_id,
        submission_set_unique_id=ss_unique_id,
        replaced_entry_uuid=replaced_entry_uuid,
    )
    soap = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    body, content_type = pack_mtom(soap, cda, document_cid=document_cid, mime_type=entry.mime_type)
    return Submission(
        body=body,
        content_type=content_type,
        message_id=message_id,
        entry_uuid=entry_uuid_for(entry.unique_id),
        submission_set_unique_id=ss_unique_id,
        document_cid=document_cid,
    )


# --- response -------------------------------------------------------------------------------------

PERMANENT_MESSAGES: dict[str, str] = {
    "XDSRegistryMetadataError": "Le DMP a refusé les métadonnées du document.",
    "XDSRepositoryMetadataError": "Le DMP a refusé les métadonnées du document (empreinte ou taille).",
    "XDSNonIdenticalHash": (
        "Le DMP contient déjà un document avec cet identifiant mais un contenu différent."
    ),
    "XDSNonIdenticalSize": (
        "Le DMP contient déjà un document avec cet identifiant mais une taille différente."
    ),
    "XDSPatientIdDoesNotMatch": "L'identifiant patient (INS) ne concorde pas dans la soumission.",
    "XDSUnknownPatientId": "Le DMP ne connaît pas cet INS (ou le DMP du patient n'est pas actif).",
    "XDSDuplicateUniqueIdInRegistry": "Le DMP contient déjà cet identifiant avec un contenu différent.",
    "XDSRegistryDuplicateUniqueIdInMessage": "La soumission contient deux fois le même identifiant.",
    "XDSMissingDocument": "Le document est absent de la soumission.",
    "XDSMissingDocumentMetadata": "Les métadonnées d'un document sont absentes de la soumission.",
    "XDSUnknownRepositoryId": "Entrepôt de documents inconnu du DMP.",
}
TRANSIENT_CODES = {
    "XDSRegistryBusy",
    "XDSRepositoryBusy",
    "XDSRegistryOutOfResources",
    "XDSRepositoryOutOfResources",
    "XDSRegistryNotAvailable",
    "XDSRegistryError",
    "XDSRepositoryError",
}


@dataclass(frozen=True)
class RegistryError:
    code: str
    context: str
    severity: str
    location: str = ""


@dataclass(frozen=True)
class SubmitResult:
    unique_id: str
    entry_uuid: str
    submission_set_unique_id: str
    message_id: str
    status: str  # registry ResponseStatusType (Success or PartialSuccess)
    http_status: int
    warnings: tuple[RegistryError, ...] = field(default_factory=tuple)
    excerpt: str = ""  # start of the response body, for the delivery log

    @property
    def status_code(self) -> int:
        return self.http_status


def soap_from_response(content: bytes, content_type: str) -> bytes:
    """The SOAP envelope bytes of a response, plain or MTOM (multipart/related)."""
    if not content_type.lower().startswith("multipart/"):
        return content
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    # compat32: the plain MIME parser; the modern policies build header objects (~10 ms per response here)
    message = BytesParser(policy=email.policy.compat32).parsebytes(head + content)
    if not message.is_multipart():
        raise ValueError("multipart response without parts")
    start = message.get_param("start")
    payloads = message.get_payload()
    parts = [p for p in payloads if isinstance(p, email.message.Message)] if isinstance(payloads, list) else []
    root = parts[0] if parts else None
    if isinstance(start, str):
        for part in parts:
            if part.get("Content-ID", "").strip() == start.strip():
                root = part
                break
    if root is None:
        raise ValueError("multipart response without a root part")
    payload = root.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raise ValueError("unreadable root part")
    return payload


def parse_registry_response(soap: bytes) -> tuple[str, list[RegistryError], tuple[str, str] | None]:
    """(status, errors, fault) of a SOAP 1.2 response: fault = (code, reason) for a SOAP Fault."""
    root = etree.fromstring(soap, parser=_PARSER)
    fault = root.find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    if fault is not None:
        value = fault.findtext(f"{{{SOAP}}}Code/{{{SOAP}}}Value", default="")
        sub = fault.findtext(f"{{{SOAP}}}Code/{{{SOAP}}}Subcode/{{{SOAP}}}Value", default="")
        reason = fault.findtext(f"{{{SOAP}}}Reason/{{{SOAP}}}Text", default="")
        return "Fault", [], (sub or value, reason)
    response = root.find(f".//{{{RS}}}RegistryResponse")
    if response is None:
        raise ValueError("no RegistryResponse in the SOAP body")
    errors = _registry_errors(response)
    return response.get("status", ""), errors, None


def dmp_unavailable(status: int, *, retry_after: float | None, content: bytes, detail: str = "") -> DeliveryError:
    """A transient HTTP-level failure of the national record (429, 5xx): retried later."""
    return DeliveryError(
        f"Le DMP est momentanément indisponible (HTTP {status}) ; nouvel essai prévu."
        + (f" ({detail})" if detail else ""),
        permanent=False,
        status=status,
        error_code=f"http_{status}",
        retry_after=retry_after,
        excerpt=_excerpt(content),
    )


def dmp_refused_http(status: int, *, content: bytes) -> DeliveryError:
    """A permanent HTTP-level refusal whose body says nothing the client can read (no SOAP, no FHIR)."""
    return DeliveryError(
        f"Le DMP a refusé la requête (HTTP {status}).",
        permanent=True,
        status=status,
        error_code=f"http_{status}",
        excerpt=_excerpt(content),
    )


def _registry_errors(response: Any) -> list[RegistryError]:
    """The RegistryErrorList of a RegistryResponse or AdhocQueryResponse element."""
    return [
        RegistryError(
            code=err.get("errorCode", ""),
            context=err.get("codeContext", ""),
            severity=err.get("severity", ""),
            location=err.get("location", ""),
        )
        for err in response.iterfind(f"{{{RS}}}RegistryErrorList/{{{RS}}}RegistryError")
    ]


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _excerpt(content: bytes) -> str:
    return content[:500].decode("utf-8", "replace")


# --- transport ----------------------------------------------------------------------------------


class HttpClientOwner:
    """An httpx client given by the caller (kept open) or created here (closed by `close()`)."""

    def __init__(self, client: httpx.Client | None, timeout: float | httpx.Timeout | None) -> None:
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=timeout or DEFAULT_TIMEOUT)
        self._timeout = timeout

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            self._client.close()

    def _request(self, method: str, url: str, *, content: bytes | None, headers: dict[str, str],
                 after_failure: str) -> httpx.Response:
        """One HTTP exchange with the national record; a timeout or a broken connection is a transient
        DeliveryError whose French message ends with `after_failure` (what happens next)."""
        try:
            if self._timeout is None:
                return self._client.request(method, url, content=content, headers=headers)
            return self._client.request(method, url, content=content, headers=headers, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"Le DMP n'a pas répondu à temps ; {after_failure}", permanent=False,
                                error_code="delai_depasse", excerpt=str(exc)) from exc
        except httpx.TransportError as exc:
            raise DeliveryError(f"La connexion au DMP a échoué ou a été interrompue ; {after_failure}",
                                permanent=False, error_code="connexion_interrompue", excerpt=str(exc)) from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class XdsTransport(HttpClientOwner):
    """Posts ITI-41 submissions to one repository endpoint (the DMP, or the simulator)."""

    def __init__(
        self,
        endpoint: str,
        *,
        identity: SenderIdentity,
        client: httpx.Client | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> None:
        super().__init__(client, timeout)
        self.endpoint = endpoint
        self.identity = identity

    def submit(
        self, cda: bytes, entry: DocumentEntry, *, replaced_entry_uuid: str | None = None
    ) -> SubmitResult:
        """Send `cda` with `entry`. Raises ValidationFailed/UnknownCode before sending if a code is
        out of its value set, DeliveryError(permanent=...) when the DMP refuses or cannot be reached.

        Safe to retry with the same bytes: the registry keys documents by uniqueId."""
        submission = build_submission(
            cda,
            entry,
            identity=self.identity,
            endpoint=self.endpoint,
            replaced_entry_uuid=replaced_entry_uuid,
        )
        response = self._post(submission)
        return self._interpret(response, submission, entry)

    def _post(self, submission: Submission) -> httpx.Response:
        headers = {
            "Content-Type": submission.content_type,
            "SOAPAction": f'"{ACTION_ITI41}"',
            "MIME-Version": "1.0",
        }
        return self._request("POST", self.endpoint, content=submission.body, headers=headers,
                             after_failure="le document a peut-être été reçu, il sera renvoyé à l'identique.")

    def _interpret(
        self, response: httpx.Response, submission: Submission, entry: DocumentEntry
    ) -> SubmitResult:
        status = response.status_code
        content = response.content[:MAX_RESPONSE_BYTES]
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        parsed: tuple[str, list[RegistryError], tuple[str, str] | None] | None = None
        soap = content
        try:
            soap = soap_from_response(content, response.headers.get("Content-Type", ""))
            parsed = parse_registry_response(soap)
        except (ValueError, etree.XMLSyntaxError):
            parsed = None  # not a SOAP answer (proxy page, truncated body): classified by HTTP status

        if status == 429 or (status >= 500 and (parsed is None or _receiver_fault(parsed))):
            raise dmp_unavailable(status, retry_after=retry_after, content=content)
        if parsed is None:
            if 200 <= status < 300:
                raise DeliveryError(
                    "Réponse du DMP illisible ; le document sera renvoyé à l'identique.",
                    permanent=False,
                    status=status,
                    error_code="reponse_illisible",
                    excerpt=_excerpt(content),
                )
            raise dmp_refused_http(status, content=content)
        registry_status, errors, fault = parsed
        refusal = registry_refusal(status, registry_status, errors, fault, fault_excerpt=_excerpt(content),
                                   retry_after=retry_after, transient_codes=TRANSIENT_CODES,
                                   transient_text="Le DMP est momentanément indisponible",
                                   refused_text="Le DMP a refusé le document.")
        if refusal is not None:
            raise refusal
        return SubmitResult(
            unique_id=entry.unique_id,
            entry_uuid=submission.entry_uuid,
            submission_set_unique_id=submission.submission_set_unique_id,
            message_id=submission.message_id,
            status=registry_status.rsplit(":", 1)[-1],
            http_status=status,
            warnings=tuple(errors),
            excerpt=_excerpt(soap),
        )


def registry_refusal(http_status: int, registry_status: str, errors: list[RegistryError],
                     fault: tuple[str, str] | None, *, fault_excerpt: str, retry_after: float | None,
                     transient_codes: set[str], transient_text: str,
                     refused_text: str) -> DeliveryError | None:
    """What a RegistryResponse (ITI-41, ITI-57) means: None when the registry accepted the request, else
    the DeliveryError to raise: a SOAP fault (permanent), a transient registry error (retried; the French
    text is `transient_text (code) ; nouvel essai prévu.`), or a refusal (permanent, with the French
    message of its error code, `refused_text` by default). Warnings never block."""
    if fault is not None:
        return DeliveryError(
            f"Le DMP a rejeté la requête SOAP ({fault[0]}) : {fault[1]}",
            permanent=True,
            status=http_status,
            error_code=fault[0],
            excerpt=fault_excerpt,
        )
    blocking = [e for e in errors if not e.severity.endswith("Warning")]
    if registry_status in (STATUS_SUCCESS, STATUS_PARTIAL) and not blocking and 200 <= http_status < 300:
        return None
    first = blocking[0] if blocking else RegistryError("XDSRegistryError", "", "")
    detail = "; ".join(f"{e.code} : {e.context}" for e in blocking) or registry_status
    if first.code in transient_codes:
        return DeliveryError(
            f"{transient_text} ({first.code}) ; nouvel essai prévu.",
            permanent=False,
            status=http_status,
            error_code=first.code,
            retry_after=retry_after,
            excerpt=detail[:500],
        )
    message = PERMANENT_MESSAGES.get(first.code, refused_text)
    return DeliveryError(
        f"{message} ({first.code} : {first.context})",
        permanent=True,
        status=http_status,
        error_code=first.code,
        excerpt=detail[:500],
    )


def _receiver_fault(parsed: tuple[str, list[RegistryError], tuple[str, str] | None]) -> bool:
    fault = parsed[2]
    return fault is not None and fault[0].endswith("Receiver")


# --- reusable ebRIM pieces (ITI-57 metadata update, XDM METADATA.XML) -------------------------------
#
# `build_envelope` above keeps its own inline ITI-41 construction; the functions below build the same
# objects for the other messages that carry a DocumentEntry and a SubmissionSet.

QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
ACTION_ITI57 = "urn:ihe:iti:2010:UpdateDocumentSet"
ACTION_ITI57_RESPONSE = "urn:ihe:iti:2010:UpdateDocumentSetResponse"
ACTION_ITI18 = "urn:ihe:iti:2007:RegistryStoredQuery"
ACTION_ITI18_RESPONSE = "urn:ihe:iti:2007:RegistryStoredQueryResponse"
QUERY_GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"  # ITI-18 GetDocuments
STATUS_APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
# Metadata-update errors that a fresh query + resend resolves (someone updated the entry meanwhile).
MU_TRANSIENT_CODES = {"XDSMetadataVersionError"}
UPDATE_TRANSIENT_CODES = TRANSIENT_CODES | MU_TRANSIENT_CODES  # what an ITI-57 update retries


def add_document_entry(
    objects: etree._Element,
    entry: DocumentEntry,
    *,
    entry_id: str,
    logical_id: str | None = None,
    uri: str | None = None,
) -> etree._Element:
    """Append the DocumentEntry ExtrinsicObject of `entry` (same slots and classifications as ITI-41).

    `logical_id`: the `lid` of an ITI-57 new version; `uri`: the XDM `URI` slot (file name in the subset)."""
    extrinsic = etree.SubElement(
        objects, _q(RIM, "ExtrinsicObject"), id=entry_id, mimeType=entry.mime_type, objectType=UUID_DOC_ENTRY
    )
    if logical_id:
        extrinsic.set("lid", logical_id)
    _slot(extrinsic, "creationTime", entry.creation_time)
    _slot(extrinsic, "hash", entry.hash_sha1)
    _slot(extrinsic, "size", str(entry.size))
    _slot(extrinsic, "languageCode", entry.language_code)
    if entry.legal_authenticator:
        _slot(extrinsic, "legalAuthenticator", entry.legal_authenticator)
    if entry.service_start:
        _slot(extrinsic, "serviceStartTime", entry.service_start)
    if entry.service_stop:
        _slot(extrinsic, "serviceStopTime", entry.service_stop)
    _slot(extrinsic, "sourcePatientId", entry.source_patient_id)
    if entry.source_patient_info:
        _slot(extrinsic, "sourcePatientInfo", *entry.source_patient_info)
    if uri:
        _slot(extrinsic, "URI", uri)
    _localized(extrinsic, "Name", entry.title)
    _author(extrinsic, UUID_DE_AUTHOR, entry_id, entry)
    _classification(extrinsic, UUID_DE_CLASS, entry_id, entry.class_code)
    for conf in entry.confidentiality:
        _classification(extrinsic, UUID_DE_CONFIDENTIALITY, entry_id, conf)
    _classification(extrinsic, UUID_DE_FORMAT, entry_id, entry.format_code)
    _classification(extrinsic, UUID_DE_FACILITY, entry_id, entry.healthcare_facility_type)
    _classification(extrinsic, UUID_DE_PRACTICE, entry_id, entry.practice_setting)
    _classification(extrinsic, UUID_DE_TYPE, entry_id, entry.type_code)
    _external_id(extrinsic, UUID_DE_PATIENT_ID, entry_id, entry.patient_id, "XDSDocumentEntry.patientId")
    _external_id(extrinsic, UUID_DE_UNIQUE_ID, entry_id, entry.unique_id, "XDSDocumentEntry.uniqueId")
    return extrinsic


def add_submission_set(
    objects: etree._Element,
    entry: DocumentEntry,
    *,
    ss_id: str,
    unique_id: str,
    source_id: str,
    submission_time: str | None = None,
    intended_recipients: tuple[str, ...] = (),
) -> etree._Element:
    """Append the SubmissionSet RegistryPackage (and its classification) for a submission about `entry`.

    `intended_recipients`: XDM/XDR `intendedRecipient` slot values (XON|XCN|XTN)."""
    package = etree.SubElement(objects, _q(RIM, "RegistryPackage"), id=ss_id, objectType=OBJ_REGISTRY_PACKAGE)
    _slot(package, "submissionTime", submission_time or dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S"))
    if intended_recipients:
        _slot(package, "intendedRecipient", *intended_recipients)
    _localized(package, "Name", entry.title)
    _author(package, UUID_SS_AUTHOR, ss_id, entry)
    _classification(package, UUID_SS_CONTENT_TYPE, ss_id, entry.content_type or entry.type_code)
    _external_id(package, UUID_SS_UNIQUE_ID, ss_id, unique_id, "XDSSubmissionSet.uniqueId")
    _external_id(package, UUID_SS_SOURCE_ID, ss_id, source_id, "XDSSubmissionSet.sourceId")
    _external_id(package, UUID_SS_PATIENT_ID, ss_id, entry.patient_id, "XDSSubmissionSet.patientId")
    etree.SubElement(
        objects,
        _q(RIM, "Classification"),
        id=_new_id(),
        classifiedObject=ss_id,
        classificationNode=UUID_SS,
        objectType=OBJ_CLASSIFICATION,
    )
    return package


def add_association(
    objects: etree._Element, kind: str, source: str, target: str, **slots: str
) -> etree._Element:
    """Append an Association (`kind`: HasMember, RPLC, XFRM…) with optional single-valued slots."""
    association = etree.SubElement(
        objects,
        _q(RIM, "Association"),
        id=_new_id(),
        associationType=kind,
        sourceObject=source,
        targetObject=target,
        objectType=OBJ_ASSOCIATION,
    )
    for name, value in slots.items():
        _slot(association, name, value)
    return association


REGISTRY_NSMAP = {"soap": SOAP, "wsa": WSA, "lcm": LCM, "rim": RIM, "query": QUERY}


def _soap_envelope(action: str, *, message_id: str, endpoint: str, vihf: etree._Element,
                   nsmap: dict[str, str] | None = None) -> etree._Element:
    """A SOAP 1.2 envelope with the WS-Addressing headers and the VIHF; the caller fills the Body."""
    envelope = etree.Element(_q(SOAP, "Envelope"), nsmap=nsmap or REGISTRY_NSMAP)
    header = etree.SubElement(envelope, _q(SOAP, "Header"))
    action_el = etree.SubElement(header, _q(WSA, "Action"))
    action_el.text = action
    action_el.set(_q(SOAP, "mustUnderstand"), "1")
    etree.SubElement(header, _q(WSA, "MessageID")).text = message_id
    reply_to = etree.SubElement(header, _q(WSA, "ReplyTo"))
    etree.SubElement(reply_to, _q(WSA, "Address")).text = "http://www.w3.org/2005/08/addressing/anonymous"
    to = etree.SubElement(header, _q(WSA, "To"))
    to.text = endpoint
    to.set(_q(SOAP, "mustUnderstand"), "1")
    security = etree.SubElement(header, _q(WSSE, "Security"), nsmap={"wsse": WSSE})
    security.set(_q(SOAP, "mustUnderstand"), "1")
    security.append(vihf)
    etree.SubElement(envelope, _q(SOAP, "Body"))
    return envelope


def build_metadata_update(
    entry: DocumentEntry,
    *,
    identity: SenderIdentity,
    endpoint: str,
    message_id: str,
    submission_set_unique_id: str,
    logical_id: str,
    previous_version: str,
    new_entry_uuid: str,
    submission_time: str | None = None,
) -> etree._Element:
    """SOAP 1.2 envelope of an ITI-57 Update Document Set: a new version of the DocumentEntry.

    The new version carries the complete metadata of `entry` (same uniqueId, hash and size: the document
    itself is not resent), `lid` = the entry's logicalId and a new entryUUID; the SubmissionSet's HasMember
    association carries `PreviousVersion` (the registry refuses the update if the entry moved on meanwhile,
    XDSMetadataVersionError) and `SubmissionSetStatus` = Original (IHE ITI Metadata Update, ITI-57)."""
    envelope = _soap_envelope(
        ACTION_ITI57, message_id=message_id, endpoint=endpoint, vihf=build_vihf(identity, entry)
    )
    body = envelope.find(_q(SOAP, "Body"))
    assert body is not None
    submit = etree.SubElement(body, _q(LCM, "SubmitObjectsRequest"))
    objects = etree.SubElement(submit, _q(RIM, "RegistryObjectList"))
    add_document_entry(objects, entry, entry_id=new_entry_uuid, logical_id=logical_id)
    ss_id = _new_id()
    add_submission_set(
        objects,
        entry,
        ss_id=ss_id,
        unique_id=submission_set_unique_id,
        source_id=identity.source_oid,
        submission_time=submission_time,
    )
    add_association(
        objects,
        ASSOC_HAS_MEMBER,
        ss_id,
        new_entry_uuid,
        SubmissionSetStatus="Original",
        PreviousVersion=previous_version,
    )
    return envelope


def build_get_documents_query(
    entry: DocumentEntry, *, identity: SenderIdentity, endpoint: str, message_id: str
) -> etree._Element:
    """SOAP 1.2 envelope of an ITI-18 GetDocuments stored query by uniqueId (LeafClass, metadata level 2)."""
    envelope = _soap_envelope(
        ACTION_ITI18, message_id=message_id, endpoint=endpoint, vihf=build_vihf(identity, entry)
    )
    body = envelope.find(_q(SOAP, "Body"))
    assert body is not None
    request = etree.SubElement(body, _q(QUERY, "AdhocQueryRequest"))
    etree.SubElement(
        request, _q(QUERY, "ResponseOption"), returnComposedObjects="true", returnType="LeafClass"
    )
    query = etree.SubElement(request, _q(RIM, "AdhocQuery"), id=QUERY_GET_DOCUMENTS)
    _slot(query, "$XDSDocumentEntryUniqueId", f"('{entry.unique_id}')")
    _slot(query, "$MetadataLevel", "2")
    return envelope


@dataclass(frozen=True)
class RegistryEntry:
    """The registry's current version of a DocumentEntry, as an ITI-18 query returns it."""

    entry_uuid: str
    logical_id: str
    version: str
    status: str
    unique_id: str
    confidentiality: tuple[CodedValue, ...]

    @property
    def confidentiality_codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.confidentiality)


def parse_query_response(soap: bytes) -> tuple[str, list[RegistryError], list[RegistryEntry], tuple[str, str] | None]:
    """(status, errors, entries, fault) of an ITI-18 AdhocQueryResponse."""
    root = etree.fromstring(soap, parser=_PARSER)
    fault = root.find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    if fault is not None:
        status, _, fault_info = parse_registry_response(soap)
        return status, [], [], fault_info
    response = root.find(f".//{{{QUERY}}}AdhocQueryResponse")
    if response is None:
        raise ValueError("no AdhocQueryResponse in the SOAP body")
    errors = _registry_errors(response)
    entries: list[RegistryEntry] = []
    for obj in response.iterfind(f"{{{RIM}}}RegistryObjectList/{{{RIM}}}ExtrinsicObject"):
        unique_id = next(
            (
                ei.get("value", "")
                for ei in obj.iterfind(f"{{{RIM}}}ExternalIdentifier")
                if ei.get("identificationScheme") == UUID_DE_UNIQUE_ID
            ),
            "",
        )
        confidentiality = tuple(
            CodedValue(
                cl.get("nodeRepresentation", ""),
                cl.findtext(f"{{{RIM}}}Slot[@name='codingScheme']/{{{RIM}}}ValueList/{{{RIM}}}Value", ""),
                str(cl.xpath("string(rim:Name/rim:LocalizedString/@value)", namespaces={"rim": RIM})),
            )
            for cl in obj.iterfind(f"{{{RIM}}}Classification")
            if cl.get("classificationScheme") == UUID_DE_CONFIDENTIALITY
        )
        version_info = obj.find(f"{{{RIM}}}VersionInfo")
        entries.append(
            RegistryEntry(
                entry_uuid=obj.get("id", ""),
                logical_id=obj.get("lid") or obj.get("id", ""),
                version=version_info.get("versionName", "1") if version_info is not None else "1",
                status=obj.get("status", ""),
                unique_id=unique_id,
                confidentiality=confidentiality,
            )
        )
    return response.get("status", ""), errors, entries, None


class XdsMetadataUpdater(HttpClientOwner):
    """Metadata update of a document already in the DMP (TD3.3a/b): ITI-18 then ITI-57.

    ITI-57 needs the entry's logicalId and current version: each update first asks the registry for the
    current version (ITI-18 GetDocuments by uniqueId), applies the change to its confidentiality codes and
    sends the new version; if the registry already has the wanted codes, nothing is sent. A retry after an
    ambiguous failure therefore converges (the second query sees the update) instead of failing on a stale
    PreviousVersion. The document itself is never resent: same uniqueId, hash and size."""

    def __init__(
        self,
        update_endpoint: str,
        query_endpoint: str,
        *,
        identity: SenderIdentity,
        client: httpx.Client | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> None:
        super().__init__(client, timeout)
        self.update_endpoint = update_endpoint
        self.query_endpoint = query_endpoint
        self.identity = identity

    # -- public API --

    def current(self, entry: DocumentEntry) -> RegistryEntry | None:
        """The registry's approved version of `entry.unique_id` (ITI-18), or None if it has none."""
        message_id = f"urn:uuid:{uuid.uuid4()}"
        envelope = build_get_documents_query(
            entry, identity=self.identity, endpoint=self.query_endpoint, message_id=message_id
        )
        response = self._post(self.query_endpoint, envelope, ACTION_ITI18)
        soap = self._soap_or_raise(response)
        try:
            status, errors, entries, fault = parse_query_response(soap)
        except (ValueError, etree.XMLSyntaxError):
            raise self._unreadable(response) from None
        self._raise_for_registry(response, status, errors, fault, soap)
        approved = [e for e in entries if e.unique_id == entry.unique_id and e.status in ("", STATUS_APPROVED)]
        return approved[-1] if approved else None

    def update_confidentiality(
        self, entry: DocumentEntry, *, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()
    ) -> SubmitResult:
        """Add and/or remove JDV_J08 confidentiality codes (e.g. remove `INVISIBLE_PATIENT` after the
        announcement consultation, add `MASQUE_PS`), keeping the other codes the registry holds.

        `entry` is the document's metadata derived from its CDA (the codes it carries are ignored: the
        registry's current codes are the base). Raises DeliveryError like XdsTransport.submit."""
        current = self.current(entry)
        if current is None:
            raise DeliveryError(
                "Le DMP ne contient pas ce document : la mise à jour de ses métadonnées est impossible.",
                permanent=True,
                error_code="document_inconnu_du_dmp",
            )
        wanted = [c for c in current.confidentiality if c.code not in remove]
        for code in add:
            if code not in {c.code for c in wanted}:
                found = valuesets_lookup_confidentiality(code)
                wanted.append(found)
        if [c.code for c in wanted] == list(current.confidentiality_codes):
            return SubmitResult(
                unique_id=entry.unique_id,
                entry_uuid=current.entry_uuid,
                submission_set_unique_id="",
                message_id="",
                status="Unchanged",
                http_status=200,
                excerpt=f"Métadonnées déjà à jour dans le DMP ({' '.join(current.confidentiality_codes)}).",
            )
        updated = dataclasses.replace(entry, confidentiality=tuple(wanted))
        check_codes(updated)
        return self.send_update(updated, current)

    def send_update(self, entry: DocumentEntry, current: RegistryEntry) -> SubmitResult:
        """Send `entry` as the next version of `current` (ITI-57)."""
        message_id = f"urn:uuid:{uuid.uuid4()}"
        ss_unique_id = new_oid()
        new_entry_uuid = f"urn:uuid:{uuid.uuid4()}"
        envelope = build_metadata_update(
            entry,
            identity=self.identity,
            endpoint=self.update_endpoint,
            message_id=message_id,
            submission_set_unique_id=ss_unique_id,
            logical_id=current.logical_id,
            previous_version=current.version,
            new_entry_uuid=new_entry_uuid,
        )
        response = self._post(self.update_endpoint, envelope, ACTION_ITI57)
        soap = self._soap_or_raise(response)
        try:
            status, errors, fault = parse_registry_response(soap)
        except (ValueError, etree.XMLSyntaxError):
            raise self._unreadable(response) from None
        self._raise_for_registry(response, status, errors, fault, soap)
        return SubmitResult(
            unique_id=entry.unique_id,
            entry_uuid=new_entry_uuid,
            submission_set_unique_id=ss_unique_id,
            message_id=message_id,
            status=status.rsplit(":", 1)[-1],
            http_status=response.status_code,
            warnings=tuple(errors),
            excerpt=_excerpt(soap),
        )

    # -- HTTP and answers --

    def _post(self, url: str, envelope: etree._Element, action: str) -> httpx.Response:
        body = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        headers = {"Content-Type": f'application/soap+xml; charset=UTF-8; action="{action}"'}
        return self._request("POST", url, content=body, headers=headers,
                             after_failure="la mise à jour des métadonnées sera réessayée.")

    def _soap_or_raise(self, response: httpx.Response) -> bytes:
        status = response.status_code
        content = response.content[:MAX_RESPONSE_BYTES]
        try:
            soap = soap_from_response(content, response.headers.get("Content-Type", ""))
        except ValueError:
            soap = content
        try:
            root = etree.fromstring(soap, parser=_PARSER)
            receiver_fault = (
                root.findtext(f"{{{SOAP}}}Body/{{{SOAP}}}Fault/{{{SOAP}}}Code/{{{SOAP}}}Value", "") or ""
            ).endswith("Receiver")
            readable = True
        except etree.XMLSyntaxError:
            receiver_fault, readable = False, False
        if status == 429 or (status >= 500 and (not readable or receiver_fault)):
            raise DeliveryError(
                f"Le DMP est momentanément indisponible (HTTP {status}) ; nouvel essai prévu.",
                permanent=False,
                status=status,
                error_code=f"http_{status}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                excerpt=_excerpt(content),
            )
        return soap

    def _unreadable(self, response: httpx.Response) -> DeliveryError:
        status = response.status_code
        if 200 <= status < 300:
            return DeliveryError(
                "Réponse du DMP illisible ; nouvel essai prévu.",
                permanent=False,
                status=status,
                error_code="reponse_illisible",
                excerpt=_excerpt(response.content),
            )
        return dmp_refused_http(status, content=response.content)

    def _raise_for_registry(
        self,
        response: httpx.Response,
        status: str,
        errors: list[RegistryError],
        fault: tuple[str, str] | None,
        soap: bytes,
    ) -> None:
        refusal = registry_refusal(
            response.status_code, status, errors, fault, fault_excerpt=_excerpt(soap),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            transient_codes=UPDATE_TRANSIENT_CODES,
            transient_text="Le DMP n'a pas pu appliquer la mise à jour",
            refused_text="Le DMP a refusé la mise à jour des métadonnées.")
        if refusal is not None:
            raise refusal


def valuesets_lookup_confidentiality(code: str) -> CodedValue:
    """A JDV_J08 confidentiality code as a CodedValue (UnknownCode if it is not in the value set)."""
    from dcc import valuesets
    from dcc.adapters.national_record.metadata import VS_CONFIDENTIALITY

    found = valuesets.lookup(VS_CONFIDENTIALITY, code, field="confidentialityCode")
    return CodedValue(found.code, found.system, found.display)
