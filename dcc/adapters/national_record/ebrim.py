"""ebRIM 3.0 metadata of the XDS messages: namespaces, IHE classification UUIDs, the DocumentEntry,
SubmissionSet and Association builders and the SOAP 1.2 envelope with WS-Addressing and the VIHF.

Shared by ITI-41 (iti41.py), ITI-18/57 (iti57.py) and the XDM METADATA.XML of secure messaging.
"""

from __future__ import annotations

import datetime as dt
import uuid

from lxml import etree

from dcc.adapters.national_record.metadata import CodedValue, DocumentEntry

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

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def new_oid() -> str:
    """A fresh UUID-derived OID (`2.25.<int>`) for submission set uniqueIds."""
    return f"2.25.{uuid.uuid4().int}"


def entry_uuid_for(unique_id: str) -> str:
    """The entryUUID dcc gives a DocumentEntry: stable per document uniqueId, so that a retry carries
    the same entryUUID and a later RPLC can target it without a stored query."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_OID, unique_id)}"


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
STATUS_APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"


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
