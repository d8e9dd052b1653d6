"""A DMP simulator: an XDS.b document repository + registry answering ITI-41 and MHD ITI-65 over real HTTP.

It shares no Python objects with the sender: it reads the raw MTOM body with the stdlib email
parser, the SOAP with a hardened lxml parser, verifies the VIHF signature, validates the metadata
as a registry does and answers a SOAP 1.2 RegistryResponse with the standard XDS error codes.
Documents are kept in memory, keyed by DocumentEntry.uniqueId.

Endpoints: `POST /xds/iti41` (ITI-41), `POST /xds/iti18` (ITI-18 GetDocuments by uniqueId: the current
version of an entry), `POST /xds/iti57` (ITI-57 Update Document Set: a new version of a DocumentEntry,
same uniqueId and bytes, new confidentiality codes; the metadata update of the announcement),
`POST /fhir` (MHD ITI-65 transaction Bundle, PDSm; parsed with
fhir.resources R4B, answered with a transaction-response Bundle or an OperationOutcome),
`PATCH /fhir/DocumentReference?identifier=<system>|<value>` and `PATCH /fhir/DocumentReference/{id}`
(JSON Patch of securityLabel only: the metadata update of the announcement),
`GET /fhir/DocumentReference?identifier=…` and `GET /fhir/DocumentReference/{id}` (ITI-67 lookup), `GET /_state`,
`POST /_reset`, `POST /_faults` (body: a fault spec), `GET /_documents/{unique_id}` (stored bytes).

Fault spec: "fail=0.3,drop_after_commit=0.1,latency_ms=50,outage_s=30,seed=7":
- fail: probability of answering 503 before storing;
- drop_after_commit: probability of storing, then breaking the connection mid-answer (ambiguous);
- latency_ms: delay before handling each ITI-41 / ITI-65 / PATCH request;
- outage_s: 503 with Retry-After for the first N seconds (counted from start or `/_faults`);
- seed: seeds the fault RNG.
"""

from __future__ import annotations

import asyncio
import base64
import email.policy
import hashlib
import itertools
import json
import math
import random
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.operationoutcome import OperationOutcome
from lxml import etree
from pydantic import ValidationError
from signxml import XMLVerifier
from signxml.exceptions import InvalidInput, InvalidSignature

from dcc.simulator import reference as valuesets
from dcc.simulator.reference import INS_OIDS, load_value_sets, nir_problem

# The simulator keeps its own copy of the IHE constants, so that a wrong value on the sending side
# is caught here rather than shared.
SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XDSB = "urn:ihe:iti:xds-b:2007"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
XOP = "http://www.w3.org/2004/08/xop/include"
NS = {"soap": SOAP, "wsa": WSA, "wsse": WSSE, "saml": SAML, "xdsb": XDSB, "rim": RIM, "xop": XOP, "ds": DS}

ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
ACTION_RESPONSE = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
DOC_ENTRY_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_FORMAT = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_FACILITY = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SS_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
SEVERITY_ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"

CLASS_CODES = {"10", "11", "31", "42", "43", "44", "45", "52", "60", "90", "95", "99"}  # TRE_A03
CLASS_SYSTEM = "1.2.250.1.213.1.1.4.1"
FORMAT_CODES = {
    ("urn:asip:ci-sis:frcp:2011", "1.2.250.1.213.1.1.4.2.282"),
    ("urn:asip:ci-sis:pps-cancer:2017", "1.2.250.1.213.1.1.4.2.282"),
    ("urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3"),
}
CODED = {
    DE_TYPE: ("typeCode", "JDV_J07_XdsTypeCode_CISIS"),
    DE_CONFIDENTIALITY: ("confidentialityCode", "JDV_J08_XdsConfidentialityCode_CISIS"),
    DE_FACILITY: ("healthcareFacilityTypeCode", "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS"),
    DE_PRACTICE: ("practiceSettingCode", "JDV_J04_XdsPracticeSettingCode_CISIS"),
}
REQUIRED_SLOTS = ("creationTime", "languageCode", "sourcePatientId")
PS_OID = "1.2.250.1.71.4.2.1"
STRUCT_OID = "1.2.250.1.71.4.2.2"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
MAX_BODY = 50 * 1024 * 1024


# --- faults ----------------------------------------------------------------------------------------


@dataclass
class FaultSpec:
    fail: float = 0.0
    drop_after_commit: float = 0.0
    latency_ms: float = 0.0
    outage_s: float = 0.0
    seed: int | None = None

    @classmethod
    def parse(cls, spec: str | None) -> FaultSpec:
        out = cls()
        for item in (spec or "").replace(";", ",").split(","):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or key not in {"fail", "drop_after_commit", "latency_ms", "outage_s", "seed"}:
                raise ValueError(
                    f"Paramètre de panne inconnu « {item.strip()} » (attendu : fail, drop_after_commit, "
                    "latency_ms, outage_s, seed)."
                )
            try:
                if key == "seed":
                    out.seed = int(value)
                else:
                    setattr(out, key, float(value))
            except ValueError:
                raise ValueError(f"Valeur invalide pour « {key} » : « {value} ».") from None
        for key in ("fail", "drop_after_commit"):
            if not 0.0 <= getattr(out, key) <= 1.0:
                raise ValueError(f"« {key} » doit être une probabilité entre 0 et 1.")
        return out


class _Faults:
    def __init__(self, spec: FaultSpec) -> None:
        self.set(spec)

    def set(self, spec: FaultSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.started = time.monotonic()

    def outage_remaining(self) -> float:
        return max(0.0, self.spec.outage_s - (time.monotonic() - self.started))

    def roll(self, probability: float) -> bool:
        return probability > 0 and self.rng.random() < probability


# --- registry state ---------------------------------------------------------------------------------


@dataclass
class StoredDocument:
    unique_id: str
    entry_uuid: str
    patient_id: str
    content: bytes
    sha1: str
    type_code: str
    confidentiality: list[str]
    submission_set_unique_id: str
    submissions: int = 1
    replaced_by: str | None = None
    version: int = 1  # ITI-57: bumped by each metadata update; entry_uuid stays the logicalId
    current_entry_uuid: str = ""  # entryUUID of the current version ("" = entry_uuid)

    def as_state(self) -> dict[str, Any]:
        return {
            "unique_id": self.unique_id,
            "entry_uuid": self.entry_uuid,
            "patient_id": self.patient_id,
            "sha256": hashlib.sha256(self.content).hexdigest(),
            "type_code": self.type_code,
            "confidentiality": list(self.confidentiality),
            "submissions": self.submissions,
            "visible_to_patient": "INVISIBLE_PATIENT" not in self.confidentiality,
            "replaced_by": self.replaced_by,
        }


class XdsError(Exception):
    """One or more registry errors, answered as a RegistryResponse Failure."""

    def __init__(self, errors: list[tuple[str, str, str]]) -> None:
        super().__init__("; ".join(f"{code}: {context}" for code, context, _ in errors))
        self.errors = errors


def _err(code: str, context: str, location: str = "") -> XdsError:
    return XdsError([(code, context, location)])


class SoapFault(Exception):
    def __init__(self, subcode: str, reason: str, *, sender: bool = True) -> None:
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason
        self.sender = sender


@dataclass
class Candidate:
    """A validated DocumentEntry waiting to be committed."""

    unique_id: str
    entry_uuid: str
    patient_id: str
    content: bytes
    sha1: str
    type_code: str
    confidentiality: list[str]
    replaces_entry_uuid: str | None = None
    replaces_unique_id: str | None = None  # MHD relatesTo: the target is named by its uniqueId


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.documents: dict[str, StoredDocument] = {}
        self.submission_sets: set[str] = set()

    def reset(self) -> None:
        with self._lock:
            self.documents.clear()
            self.submission_sets.clear()

    def state(self) -> list[dict[str, Any]]:
        with self._lock:
            return [doc.as_state() for doc in self.documents.values()]

    def get(self, unique_id: str) -> StoredDocument | None:
        with self._lock:
            return self.documents.get(unique_id)

    def find_by_entry_uuid(self, entry_uuid: str) -> StoredDocument | None:
        with self._lock:
            return next((d for d in self.documents.values() if d.entry_uuid == entry_uuid), None)

    def update_confidentiality(self, unique_id: str, codes: list[str]) -> StoredDocument | None:
        """Metadata update (MHD PATCH securityLabel): same uniqueId, same bytes, new confidentiality."""
        with self._lock:
            doc = self.documents.get(unique_id)
            if doc is not None:
                doc.confidentiality = list(codes)
            return doc

    def apply_metadata_update(
        self, *, logical_id: str, unique_id: str, patient_id: str, previous_version: str, new_entry_uuid: str,
        codes: list[str],
    ) -> StoredDocument:
        """ITI-57: a new version of a DocumentEntry (same uniqueId, same bytes, new confidentiality)."""
        with self._lock:
            doc = next((d for d in self.documents.values() if d.entry_uuid == logical_id), None)
            if doc is None:
                raise _err("UnresolvedReferenceException", f"logicalId {logical_id} inconnu")
            if doc.unique_id != unique_id:
                raise _err("XDSMetadataIdentifierError", f"uniqueId {unique_id} ≠ {doc.unique_id} (lid {logical_id})")
            if doc.patient_id != patient_id:
                raise _err("XDSPatientIDReconciliationError", "patientId différent de la version précédente")
            if previous_version != str(doc.version):
                raise _err(
                    "XDSMetadataVersionError",
                    f"PreviousVersion {previous_version} ≠ version courante {doc.version}",
                )
            known = {d.entry_uuid for d in self.documents.values()} | {
                d.current_entry_uuid for d in self.documents.values()
            }
            if new_entry_uuid in known:
                raise _err("XDSMetadataIdentifierError", f"entryUUID {new_entry_uuid} déjà utilisé")
            doc.confidentiality = list(codes)
            doc.version += 1
            doc.current_entry_uuid = new_entry_uuid
            return doc

    def commit(self, ss_unique_id: str, candidates: list[Candidate]) -> None:
        """Check against stored state, then store all or nothing."""
        with self._lock:
            errors: list[tuple[str, str, str]] = []
            if ss_unique_id in self.submission_sets or ss_unique_id in self.documents:
                errors.append(
                    ("XDSDuplicateUniqueIdInRegistry", f"SubmissionSet uniqueId {ss_unique_id}", "")
                )
            by_uuid = {d.entry_uuid: d for d in self.documents.values()}
            new: list[Candidate] = []
            for cand in candidates:
                if cand.replaces_unique_id is not None and cand.replaces_entry_uuid is None:
                    target_doc = self.documents.get(cand.replaces_unique_id)
                    cand.replaces_entry_uuid = (
                        target_doc.entry_uuid if target_doc is not None else f"uniqueId {cand.replaces_unique_id}"
                    )
                existing = self.documents.get(cand.unique_id)
                if cand.unique_id in self.submission_sets:
                    errors.append(
                        ("XDSDuplicateUniqueIdInRegistry", f"uniqueId {cand.unique_id}", cand.entry_uuid)
                    )
                elif existing is not None:
                    if existing.sha1 != cand.sha1:
                        errors.append(
                            (
                                "XDSNonIdenticalHash",
                                f"uniqueId {cand.unique_id} déjà enregistré avec une autre empreinte",
                                cand.entry_uuid,
                            )
                        )
                    elif existing.patient_id != cand.patient_id:
                        errors.append(
                            ("XDSPatientIdDoesNotMatch", f"uniqueId {cand.unique_id} : autre patient", "")
                        )
                    continue
                elif cand.entry_uuid in by_uuid:
                    errors.append(
                        ("XDSDuplicateUniqueIdInRegistry", f"entryUUID {cand.entry_uuid} déjà utilisé", "")
                    )
                    continue
                if cand.replaces_entry_uuid is not None:
                    target = by_uuid.get(cand.replaces_entry_uuid)
                    if target is None:
                        errors.append(
                            (
                                "XDSRegistryMetadataError",
                                f"Association RPLC : document cible {cand.replaces_entry_uuid} inconnu",
                                cand.entry_uuid,
                            )
                        )
                    elif target.replaced_by not in (None, cand.unique_id):
                        errors.append(
                            (
                                "XDSRegistryMetadataError",
                                f"Association RPLC : le document {target.unique_id} est déjà remplacé",
                                cand.entry_uuid,
                            )
                        )
                    elif target.patient_id != cand.patient_id:
                        errors.append(
                            (
                                "XDSPatientIdDoesNotMatch",
                                "Association RPLC : le document remplacé est d'un autre patient",
                                "",
                            )
                        )
                new.append(cand)
            if errors:
                raise XdsError(errors)
            self.submission_sets.add(ss_unique_id)
            for cand in candidates:
                existing = self.documents.get(cand.unique_id)
                if existing is not None:
                    existing.submissions += 1
            for cand in new:
                self.documents[cand.unique_id] = StoredDocument(
                    unique_id=cand.unique_id,
                    entry_uuid=cand.entry_uuid,
                    patient_id=cand.patient_id,
                    content=cand.content,
                    sha1=cand.sha1,
                    type_code=cand.type_code,
                    confidentiality=cand.confidentiality,
                    submission_set_unique_id=ss_unique_id,
                )
                if cand.replaces_entry_uuid is not None:
                    for doc in self.documents.values():
                        if doc.entry_uuid == cand.replaces_entry_uuid:
                            doc.replaced_by = cand.unique_id


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


def verify_vihf(envelope: etree._Element) -> dict[str, list[str]]:
    """Verify the VIHF signature (against the certificate it carries) and return its attributes."""
    assertion = envelope.find("soap:Header/wsse:Security/saml:Assertion", NS)
    if assertion is None:
        raise SoapFault(
            "wsse:InvalidSecurity", "Jeton VIHF (assertion SAML) absent de l'en-tête wsse:Security."
        )
    cert_text = assertion.findtext("ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", "", NS)
    if not cert_text.strip():
        raise SoapFault("wsse:InvalidSecurity", "Le VIHF n'est pas signé (certificat absent).")
    pem = "-----BEGIN CERTIFICATE-----\n" + "".join(cert_text.split()) + "\n-----END CERTIFICATE-----\n"
    standalone = etree.fromstring(etree.tostring(assertion), parser=_PARSER)
    try:
        XMLVerifier().verify(standalone, x509_cert=pem, id_attribute="ID", expect_references=1)
    except (InvalidSignature, InvalidInput) as exc:
        raise SoapFault("wsse:FailedCheck", f"Signature du VIHF invalide : {exc}") from exc
    attributes: dict[str, list[str]] = {}
    name_id = assertion.findtext("saml:Subject/saml:NameID", "", NS)
    attributes["NameID"] = [name_id]
    for attr in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS):
        values: list[str] = []
        for value in attr.iterfind("saml:AttributeValue", NS):
            child = next(iter(value), None)
            values.append(child.get("code", "") if child is not None else (value.text or "").strip())
        attributes[attr.get("Name", "")] = values
    return attributes


def _slots(obj: etree._Element) -> dict[str, list[str]]:
    return {
        slot.get("name", ""): [v.text or "" for v in slot.iterfind("rim:ValueList/rim:Value", NS)]
        for slot in obj.iterfind("rim:Slot", NS)
    }


def _external_ids(obj: etree._Element) -> dict[str, str]:
    return {
        ei.get("identificationScheme", ""): ei.get("value", "")
        for ei in obj.iterfind("rim:ExternalIdentifier", NS)
    }


def _classifications(obj: etree._Element, scheme: str) -> list[etree._Element]:
    return [c for c in obj.iterfind("rim:Classification", NS) if c.get("classificationScheme") == scheme]


def check_ins_cx(value: str, where: str) -> list[tuple[str, str, str]]:
    match = re.fullmatch(r"([0-9AB]{15})\^\^\^&([0-9.]+)&ISO\^NH", value)
    if match is None:
        return [("XDSUnknownPatientId", f"{where} : « {value} » n'est pas un INS au format CX", "")]
    if match.group(2) not in INS_OIDS:
        return [("XDSUnknownPatientId", f"{where} : autorité {match.group(2)} inconnue", "")]
    problem = nir_problem(match.group(1))
    if problem is not None:
        return [("XDSUnknownPatientId", f"{where} : {problem}", "")]
    return []


def _check_code(cl: etree._Element, field_name: str, value_set: str, loc: str) -> list[tuple[str, str, str]]:
    code = cl.get("nodeRepresentation", "")
    scheme = _slots(cl).get("codingScheme", [""])[0]
    if not valuesets.contains(value_set, code):
        return [("XDSRegistryMetadataError", f"{field_name} « {code} » absent de {value_set}", loc)]
    expected = valuesets.lookup(value_set, code).system
    if scheme != expected:
        return [
            ("XDSRegistryMetadataError", f"{field_name} « {code} » : codingScheme {scheme} ≠ {expected}", loc)
        ]
    return []


def validate_entry(
    obj: etree._Element, content: bytes | None, vihf: dict[str, list[str]], ss_patient_id: str
) -> tuple[Candidate | None, list[tuple[str, str, str]]]:
    loc = obj.get("id", "")
    errors: list[tuple[str, str, str]] = []
    if obj.get("objectType") != DOC_ENTRY_TYPE:
        errors.append(("XDSRegistryMetadataError", f"objectType {obj.get('objectType')} inattendu", loc))
    if not obj.get("mimeType"):
        errors.append(("XDSRegistryMetadataError", "mimeType absent", loc))
    slots = _slots(obj)
    for name in REQUIRED_SLOTS:
        if not slots.get(name) or not slots[name][0]:
            errors.append(("XDSRegistryMetadataError", f"slot {name} absent", loc))
    ids = _external_ids(obj)
    unique_id, patient_id = ids.get(DE_UNIQUE_ID, ""), ids.get(DE_PATIENT_ID, "")
    if not unique_id:
        errors.append(("XDSRegistryMetadataError", "XDSDocumentEntry.uniqueId absent", loc))
    if not patient_id:
        errors.append(("XDSRegistryMetadataError", "XDSDocumentEntry.patientId absent", loc))
    else:
        errors += check_ins_cx(patient_id, "XDSDocumentEntry.patientId")
        if patient_id != ss_patient_id:
            errors.append(("XDSPatientIdDoesNotMatch", "patientId du document ≠ celui du lot", loc))
        resource = vihf.get("urn:oasis:names:tc:xacml:2.0:resource:resource-id", [""])[0]
        if resource != patient_id:
            errors.append(("XDSPatientIdDoesNotMatch", "resource-id du VIHF ≠ patientId du document", loc))

    for scheme, label in (
        (DE_CLASS, "classCode"),
        (DE_TYPE, "typeCode"),
        (DE_FORMAT, "formatCode"),
        (DE_FACILITY, "healthcareFacilityTypeCode"),
        (DE_PRACTICE, "practiceSettingCode"),
    ):
        if len(_classifications(obj, scheme)) != 1:
            errors.append(("XDSRegistryMetadataError", f"{label} : une classification attendue", loc))
    if not _classifications(obj, DE_CONFIDENTIALITY):
        errors.append(("XDSRegistryMetadataError", "confidentialityCode absent", loc))
    for scheme, (label, value_set) in CODED.items():
        for cl in _classifications(obj, scheme):
            errors += _check_code(cl, label, value_set, loc)
    for cl in _classifications(obj, DE_CLASS):
        scheme = _slots(cl).get("codingScheme", [""])[0]
        if cl.get("nodeRepresentation") not in CLASS_CODES or scheme != CLASS_SYSTEM:
            errors.append(
                ("XDSRegistryMetadataError", f"classCode « {cl.get('nodeRepresentation')} » inconnu", loc)
            )
    for cl in _classifications(obj, DE_FORMAT):
        pair = (cl.get("nodeRepresentation", ""), _slots(cl).get("codingScheme", [""])[0])
        if pair not in FORMAT_CODES:
            errors.append(("XDSRegistryMetadataError", f"formatCode « {pair[0]} » inconnu", loc))

    authors = _classifications(obj, DE_AUTHOR)
    if not authors:
        errors.append(("XDSRegistryMetadataError", "auteur absent", loc))
    for author in authors:
        a_slots = _slots(author)
        person = (a_slots.get("authorPerson") or [""])[0].split("^")
        institution = (a_slots.get("authorInstitution") or [""])[0].split("^")
        if len(person) < 13 or person[8] != f"&{PS_OID}&ISO" or person[12] != "IDNPS":
            errors.append(("XDSRegistryMetadataError", "authorPerson : XCN idNat_PS attendu", loc))
        elif person[0] != vihf.get("NameID", [""])[0]:
            errors.append(("XDSRegistryMetadataError", "authorPerson ≠ NameID du VIHF", loc))
        if len(institution) < 10 or institution[5] != f"&{STRUCT_OID}&ISO" or institution[6] != "IDNST":
            errors.append(("XDSRegistryMetadataError", "authorInstitution : XON idNat_Struct attendu", loc))
        elif institution[9] != vihf.get("Identifiant_Structure", [""])[0]:
            errors.append(
                ("XDSRegistryMetadataError", "authorInstitution ≠ Identifiant_Structure du VIHF", loc)
            )
        for specialty in a_slots.get("authorSpecialty", []):
            code = specialty.partition("^")[0]
            if not valuesets.contains("JDV_J01_XdsAuthorSpecialty_CISIS", code):
                errors.append(("XDSRegistryMetadataError", f"authorSpecialty « {code} » absent de J01", loc))

    if content is None:
        errors.append(("XDSMissingDocument", f"aucun document pour {loc}", loc))
        return None, errors
    sha1 = hashlib.sha1(content).hexdigest()
    if slots.get("hash") and slots["hash"][0].lower() != sha1:
        errors.append(("XDSRepositoryMetadataError", "hash ≠ SHA-1 du document reçu", loc))
    if slots.get("size") and slots["size"][0] != str(len(content)):
        errors.append(("XDSRepositoryMetadataError", "size ≠ taille du document reçu", loc))
    if errors:
        return None, errors
    return (
        Candidate(
            unique_id=unique_id,
            entry_uuid=loc,
            patient_id=patient_id,
            content=content,
            sha1=sha1,
            type_code=_classifications(obj, DE_TYPE)[0].get("nodeRepresentation", ""),
            confidentiality=[
                c.get("nodeRepresentation", "") for c in _classifications(obj, DE_CONFIDENTIALITY)
            ],
        ),
        [],
    )


def validate_submission(request: ParsedRequest) -> tuple[str, list[Candidate]]:
    envelope = request.envelope
    action = envelope.findtext("soap:Header/wsa:Action", "", NS).strip()
    if action != ACTION:
        raise SoapFault("wsa:ActionNotSupported", f"Action WS-Addressing « {action} » non prise en charge.")
    vihf = verify_vihf(envelope)
    pnr = envelope.find("soap:Body/xdsb:ProvideAndRegisterDocumentSetRequest", NS)
    if pnr is None:
        raise SoapFault("InvalidMessage", "ProvideAndRegisterDocumentSetRequest absent du corps SOAP.")
    objects = pnr.find(
        "{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest/rim:RegistryObjectList", NS
    )
    if objects is None:
        raise _err("XDSRegistryMetadataError", "SubmitObjectsRequest/RegistryObjectList absent")

    documents: dict[str, bytes] = {}
    for doc in pnr.iterfind("xdsb:Document", NS):
        include = doc.find("xop:Include", NS)
        if include is not None:
            cid = urllib.parse.unquote(include.get("href", "").removeprefix("cid:"))
            if cid not in request.parts:
                raise _err("XDSMissingDocument", f"partie MIME {cid} introuvable", doc.get("id", ""))
            documents[doc.get("id", "")] = request.parts[cid]
        else:
            documents[doc.get("id", "")] = base64.b64decode(doc.text or "")

    packages = objects.findall("rim:RegistryPackage", NS)
    ss_ids = {
        c.get("classifiedObject")
        for c in objects.iterfind("rim:Classification", NS)
        if c.get("classificationNode") == SS_NODE
    }
    ss_ids |= {
        c.get("classifiedObject")
        for p in packages
        for c in p.iterfind("rim:Classification", NS)
        if c.get("classificationNode") == SS_NODE
    }
    submission_sets = [p for p in packages if p.get("id") in ss_ids]
    if len(submission_sets) != 1:
        raise _err("XDSRegistryMetadataError", "un et un seul lot de soumission (SubmissionSet) attendu")
    ss = submission_sets[0]
    ss_id = ss.get("id", "")
    errors: list[tuple[str, str, str]] = []
    ss_ext = _external_ids(ss)
    ss_unique_id, ss_patient = ss_ext.get(SS_UNIQUE_ID, ""), ss_ext.get(SS_PATIENT_ID, "")
    for scheme, label in (
        (SS_UNIQUE_ID, "uniqueId"),
        (SS_SOURCE_ID, "sourceId"),
        (SS_PATIENT_ID, "patientId"),
    ):
        if not ss_ext.get(scheme):
            errors.append(("XDSRegistryMetadataError", f"XDSSubmissionSet.{label} absent", ss_id))
    if not _slots(ss).get("submissionTime"):
        errors.append(("XDSRegistryMetadataError", "XDSSubmissionSet.submissionTime absent", ss_id))
    if len(_classifications(ss, SS_CONTENT_TYPE)) != 1:
        errors.append(("XDSRegistryMetadataError", "XDSSubmissionSet.contentTypeCode absent", ss_id))
    if ss_patient:
        errors += check_ins_cx(ss_patient, "XDSSubmissionSet.patientId")

    associations = objects.findall("rim:Association", NS)
    members = {
        a.get("targetObject")
        for a in associations
        if a.get("associationType") == HAS_MEMBER and a.get("sourceObject") == ss_id
    }
    replaces = {
        a.get("sourceObject", ""): a.get("targetObject", "")
        for a in associations
        if a.get("associationType") == RPLC
    }
    entries = objects.findall("rim:ExtrinsicObject", NS)
    if not entries:
        errors.append(("XDSRegistryMetadataError", "aucun DocumentEntry dans la soumission", ss_id))
    seen: set[str] = set()
    candidates: list[Candidate] = []
    for obj in entries:
        entry_id = obj.get("id", "")
        if entry_id not in members:
            errors.append(
                ("XDSRegistryMetadataError", f"{entry_id} n'est pas membre du lot (HasMember)", entry_id)
            )
        candidate, entry_errors = validate_entry(obj, documents.pop(entry_id, None), vihf, ss_patient)
        errors += entry_errors
        if candidate is not None:
            if candidate.unique_id in seen:
                errors.append(("XDSRegistryDuplicateUniqueIdInMessage", candidate.unique_id, entry_id))
            seen.add(candidate.unique_id)
            candidate.replaces_entry_uuid = replaces.get(entry_id)
            candidates.append(candidate)
    for orphan in documents:
        errors.append(("XDSMissingDocumentMetadata", f"document {orphan} sans métadonnées", orphan))
    if errors:
        raise XdsError(errors)
    return ss_unique_id, candidates


# --- ITI-18 stored query and ITI-57 metadata update ----------------------------------------------

ACTION_ITI18 = "urn:ihe:iti:2007:RegistryStoredQuery"
ACTION_ITI18_RESPONSE = "urn:ihe:iti:2007:RegistryStoredQueryResponse"
ACTION_ITI57 = "urn:ihe:iti:2010:UpdateDocumentSet"
ACTION_ITI57_RESPONSE = "urn:ihe:iti:2010:UpdateDocumentSetResponse"
QUERY_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
LCM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"


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


def _query_values(raw: str) -> list[str]:
    """The values of an ITI-18 list parameter: `('a','b')` → ['a', 'b']."""
    return [v for v in re.findall(r"'((?:[^']|'')*)'", raw)] or [raw.strip("()' ")]


def entry_metadata(doc: StoredDocument) -> etree._Element:
    """The ExtrinsicObject returned by GetDocuments (LeafClass), reduced to what the simulator keeps:
    ids, version, status, hash/size, typeCode, confidentialityCode, patientId and uniqueId."""
    entry_id = doc.current_entry_uuid or doc.entry_uuid
    obj = etree.Element(
        f"{{{RIM}}}ExtrinsicObject",
        id=entry_id,
        lid=doc.entry_uuid,
        objectType=DOC_ENTRY_TYPE,
        mimeType="text/xml",
        status=DEPRECATED if doc.replaced_by else APPROVED,
    )

    def slot(name: str, value: str) -> None:
        el = etree.SubElement(obj, f"{{{RIM}}}Slot", name=name)
        etree.SubElement(etree.SubElement(el, f"{{{RIM}}}ValueList"), f"{{{RIM}}}Value").text = value

    def classification(scheme: str, code: str, system: str, display: str) -> None:
        cl = etree.SubElement(
            obj,
            f"{{{RIM}}}Classification",
            id=f"urn:uuid:{uuid.uuid4()}",
            classificationScheme=scheme,
            classifiedObject=entry_id,
            nodeRepresentation=code,
        )
        el = etree.SubElement(cl, f"{{{RIM}}}Slot", name="codingScheme")
        etree.SubElement(etree.SubElement(el, f"{{{RIM}}}ValueList"), f"{{{RIM}}}Value").text = system
        etree.SubElement(etree.SubElement(cl, f"{{{RIM}}}Name"), f"{{{RIM}}}LocalizedString", value=display)

    slot("hash", doc.sha1)
    slot("size", str(len(doc.content)))
    etree.SubElement(obj, f"{{{RIM}}}VersionInfo", versionName=str(doc.version))
    for code in doc.confidentiality:
        value_set = "JDV_J08_XdsConfidentialityCode_CISIS"
        found = valuesets.lookup(value_set, code) if valuesets.contains(value_set, code) else None
        classification(DE_CONFIDENTIALITY, code, found.system if found else "", found.display if found else code)
    if valuesets.contains("JDV_J07_XdsTypeCode_CISIS", doc.type_code):
        found = valuesets.lookup("JDV_J07_XdsTypeCode_CISIS", doc.type_code)
        classification(DE_TYPE, doc.type_code, found.system, found.display)
    for scheme, value in ((DE_PATIENT_ID, doc.patient_id), (DE_UNIQUE_ID, doc.unique_id)):
        etree.SubElement(
            obj,
            f"{{{RIM}}}ExternalIdentifier",
            id=f"urn:uuid:{uuid.uuid4()}",
            identificationScheme=scheme,
            registryObject=entry_id,
            value=value,
        )
    return obj


def handle_get_documents(request: ParsedRequest, registry: Registry) -> bytes:
    """ITI-18 GetDocuments by $XDSDocumentEntryUniqueId, restricted to the VIHF's patient (resource-id)."""
    envelope = request.envelope
    _check_action(envelope, ACTION_ITI18)
    vihf = verify_vihf(envelope)
    query = envelope.find(f"soap:Body/{{{QUERY_NS}}}AdhocQueryRequest/rim:AdhocQuery", NS)
    response = etree.Element(f"{{{QUERY_NS}}}AdhocQueryResponse", nsmap={"query": QUERY_NS, "rim": RIM, "rs": RS})
    errors: list[tuple[str, str, str]] = []
    if query is None:
        errors.append(("XDSRegistryError", "AdhocQueryRequest/AdhocQuery absent", ""))
    elif query.get("id") != GET_DOCUMENTS:
        errors.append(("XDSUnknownStoredQuery", f"requête {query.get('id')} non prise en charge", ""))
    else:
        raw = _slots(query).get("$XDSDocumentEntryUniqueId", [])
        if not raw:
            errors.append(("XDSStoredQueryParamNumber", "$XDSDocumentEntryUniqueId absent", ""))
        patient = vihf.get("urn:oasis:names:tc:xacml:2.0:resource:resource-id", [""])[0]
        objects = etree.SubElement(response, f"{{{RIM}}}RegistryObjectList")
        for unique_id in (u for value in raw for u in _query_values(value)):
            doc = registry.get(unique_id)
            if doc is not None and doc.patient_id == patient:
                objects.append(entry_metadata(doc))
    response.set("status", FAILURE if errors else SUCCESS)
    if errors:
        error_list = etree.SubElement(response, f"{{{RS}}}RegistryErrorList")
        for code, context, location in errors:
            etree.SubElement(
                error_list, f"{{{RS}}}RegistryError", errorCode=code, codeContext=context,
                severity=SEVERITY_ERROR, location=location,
            )
    return _soap_envelope(request.message_id, response, ACTION_ITI18_RESPONSE)


def handle_update(request: ParsedRequest, registry: Registry) -> None:
    """ITI-57 Update Document Set, DocumentEntry metadata update only (new version, same uniqueId).

    The new version is validated like an ITI-41 DocumentEntry against the stored bytes (hash, size),
    then must name the current version: `lid` = logicalId, HasMember slot `PreviousVersion`."""
    envelope = request.envelope
    _check_action(envelope, ACTION_ITI57)
    vihf = verify_vihf(envelope)
    objects = envelope.find(f"soap:Body/{{{LCM_NS}}}SubmitObjectsRequest/rim:RegistryObjectList", NS)
    if objects is None:
        raise _err("XDSRegistryMetadataError", "SubmitObjectsRequest/RegistryObjectList absent")
    packages = [
        p for p in objects.findall("rim:RegistryPackage", NS)
        if p.get("id") in {
            c.get("classifiedObject") for c in objects.iterfind("rim:Classification", NS)
            if c.get("classificationNode") == SS_NODE
        }
    ]
    entries = objects.findall("rim:ExtrinsicObject", NS)
    if len(packages) != 1:
        raise _err("XDSRegistryMetadataError", "un et un seul lot de soumission (SubmissionSet) attendu")
    if len(entries) != 1:
        raise _err(
            "XDSMetadataUpdateOperationError",
            "le simulateur ne prend en charge que la mise à jour d'un DocumentEntry par requête",
        )
    ss, obj = packages[0], entries[0]
    ss_ext = _external_ids(ss)
    errors: list[tuple[str, str, str]] = []
    for scheme, label in ((SS_UNIQUE_ID, "uniqueId"), (SS_SOURCE_ID, "sourceId"), (SS_PATIENT_ID, "patientId")):
        if not ss_ext.get(scheme):
            errors.append(("XDSRegistryMetadataError", f"XDSSubmissionSet.{label} absent", ss.get("id", "")))
    if not _slots(ss).get("submissionTime"):
        errors.append(("XDSRegistryMetadataError", "XDSSubmissionSet.submissionTime absent", ss.get("id", "")))
    ss_patient = ss_ext.get(SS_PATIENT_ID, "")
    entry_id, logical_id = obj.get("id", ""), obj.get("lid", "")
    member = next(
        (
            a for a in objects.iterfind("rim:Association", NS)
            if a.get("associationType") == HAS_MEMBER and a.get("sourceObject") == ss.get("id")
            and a.get("targetObject") == entry_id
        ),
        None,
    )
    previous = (_slots(member).get("PreviousVersion") or [""])[0] if member is not None else ""
    if member is None:
        errors.append(("XDSRegistryMetadataError", f"{entry_id} n'est pas membre du lot (HasMember)", entry_id))
    elif not previous:
        errors.append(("XDSMetadataUpdateError", "slot PreviousVersion absent de l'association HasMember", entry_id))
    if not logical_id or logical_id == entry_id:
        errors.append(("XDSMetadataUpdateError", "lid (logicalId) absent ou égal au nouvel entryUUID", entry_id))
    unique_id = _external_ids(obj).get(DE_UNIQUE_ID, "")
    stored = registry.get(unique_id)
    if stored is None:
        errors.append(("XDSMetadataIdentifierError", f"uniqueId {unique_id} inconnu", entry_id))
    if errors:
        raise XdsError(errors)
    assert stored is not None
    candidate, entry_errors = validate_entry(obj, stored.content, vihf, ss_patient)
    if entry_errors or candidate is None:
        raise XdsError(entry_errors)
    registry.apply_metadata_update(
        logical_id=logical_id,
        unique_id=unique_id,
        patient_id=candidate.patient_id,
        previous_version=previous,
        new_entry_uuid=entry_id,
        codes=candidate.confidentiality,
    )


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


class SimulatedConnectionDrop(RuntimeError):
    """Raised mid-answer to break the connection after the commit (fault `drop_after_commit`)."""


async def _dropped_body() -> AsyncIterator[bytes]:
    yield b"--MIMEBoundary_partial\r\n"
    raise SimulatedConnectionDrop("connexion coupée après l'enregistrement (panne simulée)")


# --- MHD ITI-65 (PDSm) -------------------------------------------------------------------------------

FHIR_JSON = "application/fhir+json"
URI_SYSTEM = "urn:ietf:rfc:3986"
LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
EXT_SOURCE_ID = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId"
EXT_DESIGNATION_TYPE = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType"
CONFIDENTIALITY_SYSTEM = "2.16.840.1.113883.5.25"
FHIR_SYSTEM_OIDS = {
    "http://loinc.org": "2.16.840.1.113883.6.1",
    "http://terminology.hl7.org/CodeSystem/v3-Confidentiality": CONFIDENTIALITY_SYSTEM,
    "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument": CLASS_SYSTEM,
}
FHIR_URIS = {oid: uri for uri, oid in FHIR_SYSTEM_OIDS.items()}
CONFLICT_CODES = {"XDSNonIdenticalHash", "XDSNonIdenticalSize", "XDSDuplicateUniqueIdInRegistry"}
ISSUE_TYPES = {
    "XDSNonIdenticalHash": "conflict",
    "XDSNonIdenticalSize": "conflict",
    "XDSDuplicateUniqueIdInRegistry": "duplicate",
    "XDSUnknownPatientId": "not-found",
    "XDSPatientIdDoesNotMatch": "business-rule",
    "XDSMissingDocument": "required",
    "XDSMissingDocumentMetadata": "required",
    "XDSRegistryDuplicateUniqueIdInMessage": "duplicate",
    "FHIRStructure": "structure",
}


class FhirError(Exception):
    """Errors answered as an OperationOutcome with `status` (registry errors as XDS-like triples)."""

    def __init__(self, status: int, errors: list[tuple[str, str, str]]) -> None:
        super().__init__("; ".join(f"{code}: {context}" for code, context, _ in errors))
        self.status = status
        self.errors = errors


def operation_outcome(errors: list[tuple[str, str, str]], *, issue_type: str | None = None) -> dict[str, Any]:
    """An OperationOutcome: one error issue per (code, French text, location)."""
    issues = []
    for code, context, location in errors:
        issue: dict[str, Any] = {
            "severity": "error",
            "code": issue_type or ISSUE_TYPES.get(code, "invalid"),
            "details": {"coding": [{"code": code}], "text": context},
        }
        if location:
            issue["expression"] = [location]
        issues.append(issue)
    outcome = OperationOutcome.model_validate({"resourceType": "OperationOutcome", "issue": issues})
    return json.loads(outcome.model_dump_json(exclude_none=True))


def fhir_response(data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=json.dumps(data, ensure_ascii=False).encode("utf-8"),
        status_code=status,
        media_type=FHIR_JSON,
        headers=headers,
    )


def fhir_error_response(exc: FhirError | XdsError) -> Response:
    if isinstance(exc, FhirError):
        return fhir_response(operation_outcome(exc.errors), exc.status)
    status = 409 if all(code in CONFLICT_CODES for code, _, _ in exc.errors) else 422
    return fhir_response(operation_outcome(exc.errors), status)


def _fhir_unavailable(reason: str, retry_after: float | None = None) -> Response:
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after is not None else {}
    return fhir_response(operation_outcome([("MHDUnavailable", reason, "")], issue_type="transient"), 503, headers)


def _oid(system: str | None) -> str:
    system = system or ""
    if system in FHIR_SYSTEM_OIDS:
        return FHIR_SYSTEM_OIDS[system]
    return system.removeprefix("urn:oid:") if system.startswith("urn:oid:") else system


def _codings(value: Any) -> list[Any]:
    """The codings of a CodeableConcept (or a Coding itself)."""
    if value is None:
        return []
    if hasattr(value, "coding"):
        return list(value.coding or [])
    return [value]


def _check_fhir_code(value: Any, label: str, value_set: str, loc: str) -> list[tuple[str, str, str]]:
    codings = _codings(value)
    if len(codings) != 1:
        return [("XDSRegistryMetadataError", f"{label} : un code attendu", loc)]
    code, system = str(codings[0].code or ""), _oid(codings[0].system)
    if not valuesets.contains(value_set, code):
        return [("XDSRegistryMetadataError", f"{label} « {code} » absent de {value_set}", loc)]
    expected = valuesets.lookup(value_set, code).system
    if system != expected:
        return [("XDSRegistryMetadataError", f"{label} « {code} » : système {system} ≠ {expected}", loc)]
    return []


@dataclass(frozen=True)
class _Identifier:
    system: str
    value: str


def unique_id_of(identifier: Any) -> str:
    """uniqueId of a masterIdentifier / identifier: `urn:oid:<oid>` (RFC 3986) or system urn:oid:<root>."""
    if identifier is None or not identifier.value:
        return ""
    system, value = str(identifier.system or ""), str(identifier.value)
    if system == URI_SYSTEM and value.startswith("urn:oid:"):
        return value.removeprefix("urn:oid:")
    if system.startswith("urn:oid:"):
        return f"{system.removeprefix('urn:oid:')}^{value}"
    return ""


def ins_of(reference: Any, where: str) -> tuple[str, list[tuple[str, str, str]]]:
    """The INS of a patient Reference as a CX (`<matricule>^^^&<oid>&ISO^NH`), with its errors."""
    if reference is None:
        return "", [("XDSUnknownPatientId", f"{where} : patient absent", "")]
    system = value = ""
    if reference.identifier is not None:
        system, value = str(reference.identifier.system or ""), str(reference.identifier.value or "")
    elif reference.reference and str(reference.reference).startswith("Patient?identifier="):
        system, _, value = str(reference.reference).removeprefix("Patient?identifier=").partition("|")
    if not system.startswith("urn:oid:") or not value:
        return "", [("XDSUnknownPatientId", f"{where} : INS (identifiant urn:oid:<OID INS>) attendu", "")]
    cx = f"{value}^^^&{system.removeprefix('urn:oid:')}&ISO^NH"
    return cx, check_ins_cx(cx, where)


def _contained(resource: Any, reference: Any) -> Any:
    ref = str(getattr(reference, "reference", "") or "")
    if not ref.startswith("#"):
        return None
    return next((c for c in resource.contained or [] if c.id == ref[1:]), None)


def _identifier_values(resource: Any, oid: str) -> list[str]:
    return [str(i.value) for i in getattr(resource, "identifier", None) or [] if i.system == f"urn:oid:{oid}"]


def _check_authors(doc: Any, loc: str) -> list[tuple[str, str, str]]:
    errors: list[tuple[str, str, str]] = []
    if not doc.author:
        return [("XDSRegistryMetadataError", "auteur absent", loc)]
    for ref in doc.author:
        author = _contained(doc, ref)
        if author is None:
            if ref.identifier is None or ref.identifier.system != f"urn:oid:{PS_OID}":
                errors.append(("XDSRegistryMetadataError", "auteur : identifiant national (idNat_PS) attendu", loc))
            continue
        practitioner, organization = author, None
        if author.get_resource_type() == "PractitionerRole":
            practitioner = _contained(doc, author.practitioner)
            organization = _contained(doc, author.organization)
            for specialty in author.specialty or []:
                errors += _check_fhir_code(specialty, "authorSpecialty", "JDV_J01_XdsAuthorSpecialty_CISIS", loc)
        if practitioner is None or not _identifier_values(practitioner, PS_OID):
            errors.append(("XDSRegistryMetadataError", "auteur : identifiant national (idNat_PS) attendu", loc))
        if organization is not None and not _identifier_values(organization, STRUCT_OID):
            errors.append(("XDSRegistryMetadataError", "structure de l'auteur : idNat_Struct attendu", loc))
    return errors


def validate_document_reference(
    doc: Any, loc: str, binaries: dict[str, bytes], ss_patient: str
) -> tuple[Candidate | None, str | None, list[tuple[str, str, str]]]:
    """Check one DocumentReference like the registry does; (candidate, Binary fullUrl used, errors)."""
    errors: list[tuple[str, str, str]] = []
    unique_id = unique_id_of(doc.masterIdentifier)
    if not unique_id:
        errors.append(("XDSRegistryMetadataError", "masterIdentifier (uniqueId) absent ou mal formé", loc))
    if doc.status != "current":
        errors.append(("XDSRegistryMetadataError", f"status « {doc.status} » : « current » attendu", loc))
    patient_id, patient_errors = ins_of(doc.subject, "DocumentReference.subject")
    errors += patient_errors
    if patient_id and ss_patient and patient_id != ss_patient:
        errors.append(("XDSPatientIdDoesNotMatch", "subject du document ≠ celui du lot", loc))

    errors += _check_fhir_code(doc.type, "typeCode", "JDV_J07_XdsTypeCode_CISIS", loc)
    categories = [c for cat in doc.category or [] for c in _codings(cat)]
    if len(categories) != 1 or categories[0].code not in CLASS_CODES or _oid(categories[0].system) != CLASS_SYSTEM:
        errors.append(("XDSRegistryMetadataError", "category (classCode) absente ou inconnue", loc))
    if not doc.securityLabel:
        errors.append(("XDSRegistryMetadataError", "securityLabel (confidentialityCode) absent", loc))
    confidentiality: list[str] = []
    for label in doc.securityLabel or []:
        errors += _check_fhir_code(label, "confidentialityCode", "JDV_J08_XdsConfidentialityCode_CISIS", loc)
        confidentiality += [str(c.code) for c in _codings(label)]

    context = doc.context
    if context is None:
        errors.append(("XDSRegistryMetadataError", "context absent", loc))
    else:
        errors += _check_fhir_code(
            context.facilityType, "healthcareFacilityTypeCode", "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS", loc
        )
        errors += _check_fhir_code(
            context.practiceSetting, "practiceSettingCode", "JDV_J04_XdsPracticeSettingCode_CISIS", loc
        )
        if context.period is None or context.period.start is None:
            errors.append(("XDSRegistryMetadataError", "context.period.start absent", loc))
    errors += _check_authors(doc, loc)

    if not doc.content or len(doc.content) != 1:
        errors.append(("XDSRegistryMetadataError", "un et un seul content attendu", loc))
        return None, None, errors
    content = doc.content[0]
    fmt = content.format
    if fmt is None or (str(fmt.code or ""), _oid(fmt.system)) not in FORMAT_CODES:
        errors.append(("XDSRegistryMetadataError", f"formatCode « {getattr(fmt, 'code', '')} » inconnu", loc))
    attachment = content.attachment
    if not attachment.contentType:
        errors.append(("XDSRegistryMetadataError", "attachment.contentType (mimeType) absent", loc))
    url = str(attachment.url or "")
    data = binaries.get(url)
    if data is None:
        errors.append(("XDSMissingDocument", f"Binary {url or '(url absente)'} absent du lot", loc))
        return None, None, errors
    sha1 = hashlib.sha1(data).digest()
    if attachment.hash is None or attachment.hash != sha1:
        errors.append(("XDSRepositoryMetadataError", "hash ≠ SHA-1 du document reçu", loc))
    if attachment.size is None or attachment.size != len(data):
        errors.append(("XDSRepositoryMetadataError", "size ≠ taille du document reçu", loc))

    replaces = None
    for relation in doc.relatesTo or []:
        if relation.code != "replaces":
            continue
        target = relation.target
        replaces = unique_id_of(target.identifier) if target is not None else ""
        if not replaces:
            errors.append(("XDSRegistryMetadataError", "relatesTo replaces : identifiant de la cible absent", loc))
    if errors:
        return None, url, errors
    return (
        Candidate(
            unique_id=unique_id,
            entry_uuid=loc,
            patient_id=patient_id,
            content=data,
            sha1=sha1.hex(),
            type_code=str(_codings(doc.type)[0].code),
            confidentiality=confidentiality,
            replaces_unique_id=replaces,
        ),
        url,
        [],
    )


def validate_mhd_bundle(body: bytes) -> tuple[str, list[Candidate], Bundle]:
    """Parse and check an ITI-65 transaction Bundle; (submission set uniqueId, candidates, bundle)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise FhirError(400, [("FHIRStructure", f"JSON illisible : {exc}", "")]) from exc
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise FhirError(400, [("FHIRStructure", "une ressource Bundle est attendue", "")])
    try:
        bundle = Bundle.model_validate(data)
    except (ValidationError, ValueError, KeyError, TypeError) as exc:
        raise FhirError(400, [("FHIRStructure", f"Bundle non conforme à FHIR R4 : {exc}"[:2000], "")]) from exc
    if bundle.type != "transaction":
        raise FhirError(400, [("FHIRStructure", f"Bundle.type « {bundle.type} » : « transaction » attendu", "")])

    errors: list[tuple[str, str, str]] = []
    lists: list[tuple[str, Any]] = []
    documents: list[tuple[str, Any]] = []
    binaries: dict[str, bytes] = {}
    item: Any
    for item in bundle.entry or []:
        url = str(item.fullUrl or "")
        if item.resource is None or not url:
            errors.append(("XDSRegistryMetadataError", "entrée sans fullUrl ou sans ressource", url))
            continue
        if item.request is None or item.request.method != "POST":
            errors.append(("XDSRegistryMetadataError", "request.method POST attendu", url))
        kind = item.resource.get_resource_type()
        if kind == "List":
            lists.append((url, item.resource))
        elif kind == "DocumentReference":
            documents.append((url, item.resource))
        elif kind == "Binary":
            binaries[url] = bytes(item.resource.data or b"")
        else:
            errors.append(("XDSRegistryMetadataError", f"ressource {kind} inattendue dans le lot", url))
    submission_sets = [
        (url, res)
        for url, res in lists
        if any(c.system == LIST_TYPES and c.code == "submissionset" for c in _codings(res.code))
    ]
    if len(submission_sets) != 1:
        raise FhirError(422, [("XDSRegistryMetadataError", "un et un seul lot de soumission (List) attendu", "")])
    ss_url, ss = submission_sets[0]
    ss_unique_id = next(
        (
            str(i.value).removeprefix("urn:oid:")
            for i in ss.identifier or []
            if i.use == "usual" and str(i.value or "").startswith("urn:oid:")
        ),
        "",
    )
    if not ss_unique_id:
        errors.append(("XDSRegistryMetadataError", "SubmissionSet.uniqueId (identifier usual) absent", ss_url))
    extensions = {ext.url: ext for ext in ss.extension or []}
    if EXT_SOURCE_ID not in extensions:
        errors.append(("XDSRegistryMetadataError", "SubmissionSet.sourceId absent", ss_url))
    if EXT_DESIGNATION_TYPE not in extensions:
        errors.append(("XDSRegistryMetadataError", "SubmissionSet.contentTypeCode absent", ss_url))
    if ss.date is None:
        errors.append(("XDSRegistryMetadataError", "SubmissionSet.submissionTime (date) absent", ss_url))
    ss_patient, patient_errors = ins_of(ss.subject, "SubmissionSet.subject")
    errors += patient_errors
    members = {str(e.item.reference) for e in ss.entry or [] if e.item is not None and e.item.reference}

    if not documents:
        errors.append(("XDSRegistryMetadataError", "aucun DocumentReference dans le lot", ss_url))
    used: set[str] = set()
    seen: set[str] = set()
    candidates: list[Candidate] = []
    for url, doc in documents:
        if url not in members:
            errors.append(("XDSRegistryMetadataError", f"{url} n'est pas membre du lot (List.entry)", url))
        candidate, binary_url, doc_errors = validate_document_reference(doc, url, binaries, ss_patient)
        errors += doc_errors
        if binary_url:
            used.add(binary_url)
        if candidate is not None:
            if candidate.unique_id in seen:
                errors.append(("XDSRegistryDuplicateUniqueIdInMessage", candidate.unique_id, url))
            seen.add(candidate.unique_id)
            candidates.append(candidate)
    for orphan in set(binaries) - used:
        errors.append(("XDSMissingDocumentMetadata", f"Binary {orphan} sans DocumentReference", orphan))
    if errors:
        raise XdsError(errors)
    return ss_unique_id, candidates, bundle


def transaction_response(bundle: Bundle) -> dict[str, Any]:
    entries = []
    for item in bundle.entry or []:
        kind = item.resource.get_resource_type() if item.resource is not None else "Resource"
        resource_id = str(item.fullUrl or "").removeprefix("urn:uuid:") or uuid.uuid4().hex
        entries.append({"response": {"status": "201 Created", "location": f"{kind}/{resource_id}"}})
    answer = Bundle.model_validate({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})
    return json.loads(answer.model_dump_json(exclude_none=True))


def _label(code: str) -> dict[str, Any]:
    """securityLabel CodeableConcept of a stored confidentiality code (system from JDV_J08)."""
    value_set = "JDV_J08_XdsConfidentialityCode_CISIS"
    system = valuesets.lookup(value_set, code).system if valuesets.contains(value_set, code) else ""
    found = valuesets.lookup(value_set, code) if system else None
    coding = {"system": FHIR_URIS.get(system, f"urn:oid:{system}"), "code": code}
    if found is not None and found.display:
        coding["display"] = found.display
    return {"coding": [coding]}


def document_reference_of(doc: StoredDocument) -> dict[str, Any]:
    """The DocumentReference the registry answers for a stored document (ITI-67 read / search)."""
    root, _, ext = doc.unique_id.partition("^")
    master = {"system": f"urn:oid:{root}", "value": ext} if ext else {"system": URI_SYSTEM, "value": f"urn:oid:{root}"}
    type_system = ""
    if valuesets.contains("JDV_J07_XdsTypeCode_CISIS", doc.type_code):
        type_system = valuesets.lookup("JDV_J07_XdsTypeCode_CISIS", doc.type_code).system
    matricule, _, rest = doc.patient_id.partition("^^^&")
    ins_oid = rest.split("&", 1)[0]
    data = {
        "resourceType": "DocumentReference",
        "id": doc.entry_uuid.removeprefix("urn:uuid:"),
        "masterIdentifier": master,
        "identifier": [{"use": "official", "system": URI_SYSTEM, "value": doc.entry_uuid}],
        "status": "superseded" if doc.replaced_by else "current",
        "type": {"coding": [{"system": FHIR_URIS.get(type_system, f"urn:oid:{type_system}"), "code": doc.type_code}]},
        "subject": {"identifier": {"system": f"urn:oid:{ins_oid}", "value": matricule}},
        "securityLabel": [_label(code) for code in doc.confidentiality],
        "content": [
            {
                "attachment": {
                    "contentType": "text/xml",
                    "url": f"/_documents/{urllib.parse.quote(doc.unique_id, safe='')}",
                    "size": len(doc.content),
                    "hash": base64.b64encode(bytes.fromhex(doc.sha1)).decode("ascii"),
                }
            }
        ],
    }
    return json.loads(DocumentReference.model_validate(data).model_dump_json(exclude_none=True))


def _label_code(label: Any, where: str) -> str:
    """The confidentiality code of one securityLabel (a CodeableConcept as JSON), checked against J08."""
    codings = label.get("coding") if isinstance(label, dict) else None
    if not isinstance(codings, list) or len(codings) != 1 or not isinstance(codings[0], dict):
        raise FhirError(422, [("XDSRegistryMetadataError", f"{where} : un code attendu", "")])
    code, system = str(codings[0].get("code", "")), _oid(str(codings[0].get("system", "")))
    value_set = "JDV_J08_XdsConfidentialityCode_CISIS"
    if not valuesets.contains(value_set, code) or valuesets.lookup(value_set, code).system != system:
        raise FhirError(
            422, [("XDSRegistryMetadataError", f"{where} : « {code} » ({system}) absent de {value_set}", "")]
        )
    return code


def apply_security_label_patch(current: list[str], patch: Any) -> list[str]:
    """Apply a JSON Patch restricted to /securityLabel to the labels `current`; return the new codes."""
    if not isinstance(patch, list):
        raise FhirError(400, [("FHIRStructure", "un document JSON Patch (tableau d'opérations) est attendu", "")])

    labels: list[Any] = [_label(c) for c in current]
    for op in patch:
        if not isinstance(op, dict) or op.get("op") not in {"add", "remove", "replace", "test"}:
            raise FhirError(400, [("FHIRStructure", f"opération JSON Patch invalide : {op!r}"[:300], "")])
        path = str(op.get("path", ""))
        if path == "/securityLabel":
            index: int | None = None
        elif path.startswith("/securityLabel/"):
            tail = path.removeprefix("/securityLabel/")
            if tail == "-" and op["op"] == "add":
                index = len(labels)
            elif tail.isdigit() and int(tail) <= len(labels) - (0 if op["op"] == "add" else 1):
                index = int(tail)
            else:
                raise FhirError(422, [("XDSRegistryMetadataError", f"chemin JSON Patch {path} hors limites", "")])
        else:
            raise FhirError(
                422, [("XDSRegistryMetadataError", f"seul securityLabel peut être modifié (chemin {path})", "")]
            )
        value = op.get("value")
        if op["op"] == "test":
            actual = [_label_code(v, path) for v in labels] if index is None else [_label_code(labels[index], path)]
            expected = value if index is None else [value]
            if not isinstance(expected, list) or actual != [_label_code(v, path) for v in expected]:
                raise FhirError(409, [("XDSRegistryMetadataError", f"test JSON Patch en échec sur {path}", "")])
        elif op["op"] == "remove":
            if index is None:
                labels = []
            else:
                labels.pop(index)
        elif index is None:
            if not isinstance(value, list):
                raise FhirError(422, [("XDSRegistryMetadataError", "securityLabel : tableau attendu", "")])
            labels = list(value)
        elif op["op"] == "add":
            labels.insert(index, value)
        else:
            labels[index] = value
    codes = [_label_code(label, "securityLabel") for label in labels]
    if sum(code in ("N", "R", "V") for code in codes) != 1:
        raise FhirError(
            422, [("XDSRegistryMetadataError", "securityLabel : un et un seul niveau N, R ou V attendu", "")]
        )
    return list(dict.fromkeys(codes))


# --- raw request dump ------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class DumpRequests:
    """Pure ASGI middleware writing each raw HTTP request (request line, headers, body) to a file."""

    def __init__(self, app: Callable[..., Awaitable[None]], directory: Path) -> None:
        self.app = app
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Read the whole body first (so it is recorded even if the app never reads it), then replay it.
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # client went away before sending the whole body
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        self._write(scope, body)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _write(self, scope: Scope, body: bytes) -> None:
        with self._lock:
            number = next(self._counter)
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        lines = [
            f"{scope['method']} ".encode() + target + f" HTTP/{scope.get('http_version', '1.1')}".encode()
        ]
        lines += [name + b": " + value for name, value in scope.get("headers", [])]
        slug = re.sub(r"[^A-Za-z0-9]+", "_", scope["path"]).strip("_") or "root"
        path = self.directory / f"{number:06d}-{scope['method']}-{slug}.http"
        path.write_bytes(b"\r\n".join(lines) + b"\r\n\r\n" + body)


# --- application -----------------------------------------------------------------------------------


def create_app(*, faults: str | None = None, dump_dir: Path | None = None, kit: Path | None = None) -> FastAPI:
    """The DMP simulator as a FastAPI app (see module docstring). Its value sets come from the ANS kit (`kit`,
    else $DCC_ANS_KIT, else ../shared/ans-cda-kit; see dcc.simulator.reference)."""
    value_sets_source = load_value_sets(kit)
    app = FastAPI(title="Simulateur DMP (XDS.b ITI-41)", docs_url=None, redoc_url=None, openapi_url=None)
    registry = Registry()
    fault_state = _Faults(FaultSpec.parse(faults))
    app.state.registry = registry
    app.state.faults = fault_state
    app.state.value_sets_source = value_sets_source
    if dump_dir is not None:
        app.add_middleware(DumpRequests, directory=dump_dir)

    @app.post("/xds/iti41")
    async def iti41(request: Request) -> Response:
        body = await request.body()
        spec = fault_state.spec
        if spec.latency_ms > 0:
            await asyncio.sleep(spec.latency_ms / 1000)
        remaining = fault_state.outage_remaining()
        if remaining > 0:
            return _unavailable("Service DMP indisponible (maintenance simulée).", retry_after=remaining)
        if fault_state.roll(spec.fail):
            return _unavailable("Service DMP indisponible (panne simulée).")
        if len(body) > MAX_BODY:
            return mtom_response(
                soap_fault(SoapFault("InvalidMessage", "Message trop volumineux.")), status=413
            )
        relates_to = ""
        try:
            parsed = parse_mtom(request.headers.get("content-type", ""), body)
            relates_to = parsed.message_id
            ss_unique_id, candidates = validate_submission(parsed)
            registry.commit(ss_unique_id, candidates)
        except SoapFault as fault:
            return mtom_response(soap_fault(fault, relates_to), status=400 if fault.sender else 500)
        except XdsError as exc:
            return mtom_response(registry_response(relates_to, exc.errors))
        if fault_state.roll(spec.drop_after_commit):
            return StreamingResponse(_dropped_body(), status_code=200, media_type="multipart/related")
        return mtom_response(registry_response(relates_to))

    async def injected_fault(unavailable: Callable[..., Response]) -> Response | None:
        """The fault injection of ITI-41 (latency, outage, random failure) for the other endpoints, answered
        by `unavailable` (a SOAP fault or a FHIR OperationOutcome)."""
        spec = fault_state.spec
        if spec.latency_ms > 0:
            await asyncio.sleep(spec.latency_ms / 1000)
        remaining = fault_state.outage_remaining()
        if remaining > 0:
            return unavailable("Service DMP indisponible (maintenance simulée).", retry_after=remaining)
        if fault_state.roll(spec.fail):
            return unavailable("Service DMP indisponible (panne simulée).")
        return None

    async def soap_faults() -> Response | None:
        return await injected_fault(_unavailable)

    @app.post("/xds/iti18")
    async def iti18(request: Request) -> Response:
        """ITI-18 Registry Stored Query (GetDocuments by uniqueId): the current version of an entry."""
        body = await request.body()
        gate = await soap_faults()
        if gate is not None:
            return gate
        relates_to = ""
        try:
            parsed = parse_soap(request.headers.get("content-type", ""), body)
            relates_to = parsed.message_id
            answer = handle_get_documents(parsed, registry)
        except SoapFault as fault:
            return mtom_response(soap_fault(fault, relates_to), status=400 if fault.sender else 500)
        return mtom_response(answer)

    @app.post("/xds/iti57")
    async def iti57(request: Request) -> Response:
        """ITI-57 Update Document Set: new version of a DocumentEntry (same uniqueId, no resubmission)."""
        body = await request.body()
        gate = await soap_faults()
        if gate is not None:
            return gate
        if len(body) > MAX_BODY:
            return mtom_response(soap_fault(SoapFault("InvalidMessage", "Message trop volumineux.")), status=413)
        relates_to = ""
        try:
            parsed = parse_soap(request.headers.get("content-type", ""), body)
            relates_to = parsed.message_id
            handle_update(parsed, registry)
        except SoapFault as fault:
            return mtom_response(soap_fault(fault, relates_to), status=400 if fault.sender else 500)
        except XdsError as exc:
            return mtom_response(_with_action(registry_response(relates_to, exc.errors)))
        if fault_state.roll(fault_state.spec.drop_after_commit):
            return StreamingResponse(_dropped_body(), status_code=200, media_type="multipart/related")
        return mtom_response(_with_action(registry_response(relates_to)))

    async def fhir_faults() -> Response | None:
        return await injected_fault(_fhir_unavailable)

    def fhir_body_error(request: Request, body: bytes, *, patch: bool = False) -> Response | None:
        if len(body) > MAX_BODY:
            return fhir_response(operation_outcome([("FHIRStructure", "Message trop volumineux.", "")]), 413)
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        accepted = {"application/json-patch+json", "application/json"} if patch else {FHIR_JSON, "application/json"}
        if ctype not in accepted:
            message = f"Content-Type « {ctype} » non pris en charge ({', '.join(sorted(accepted))})."
            return fhir_response(operation_outcome([("FHIRStructure", message, "")]), 415)
        return None

    @app.post("/fhir")
    async def iti65(request: Request) -> Response:
        """ITI-65 Provide Document Bundle (PDSm): stored in the same registry as ITI-41."""
        body = await request.body()
        gate = await fhir_faults() or fhir_body_error(request, body)
        if gate is not None:
            return gate
        try:
            ss_unique_id, candidates, bundle = validate_mhd_bundle(body)
            registry.commit(ss_unique_id, candidates)
        except (FhirError, XdsError) as exc:
            return fhir_error_response(exc)
        if fault_state.roll(fault_state.spec.drop_after_commit):
            return StreamingResponse(_dropped_body(), status_code=200, media_type=FHIR_JSON)
        return fhir_response(transaction_response(bundle))

    async def patch_security_labels(request: Request, stored: StoredDocument | None, what: str) -> Response:
        body = await request.body()
        gate = await fhir_faults() or fhir_body_error(request, body, patch=True)
        if gate is not None:
            return gate
        if stored is None:
            return fhir_response(
                operation_outcome([("XDSUnknownDocument", f"Document {what} inconnu.", "")], issue_type="not-found"),
                404,
            )
        try:
            patch = json.loads(body)
        except ValueError:
            return fhir_response(operation_outcome([("FHIRStructure", "JSON Patch illisible.", "")]), 400)
        try:
            codes = apply_security_label_patch(stored.confidentiality, patch)
        except FhirError as exc:
            return fhir_error_response(exc)
        registry.update_confidentiality(stored.unique_id, codes)
        if fault_state.roll(fault_state.spec.drop_after_commit):
            return StreamingResponse(_dropped_body(), status_code=200, media_type=FHIR_JSON)
        outcome = OperationOutcome.model_validate(
            {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "information",
                        "code": "informational",
                        "details": {"text": f"securityLabel mis à jour : {', '.join(codes)}"},
                    }
                ],
            }
        )
        return fhir_response(json.loads(outcome.model_dump_json(exclude_none=True)))

    def stored_by_token(token: str) -> StoredDocument | None:
        system, sep, value = token.partition("|")
        unique_id = unique_id_of(_Identifier(system, value)) if sep else ""
        return registry.get(unique_id) if unique_id else None

    @app.get("/fhir/DocumentReference")
    def search_document_references(request: Request) -> Response:
        """ITI-67 search, by `identifier=<system>|<value>` (the uniqueId) only."""
        token = request.query_params.get("identifier", "")
        if not token:
            message = "Seule la recherche par identifiant (identifier=<système>|<valeur>) est prise en charge."
            return fhir_response(operation_outcome([("FHIRStructure", message, "")], issue_type="not-supported"), 400)
        stored = stored_by_token(token)
        found = [document_reference_of(stored)] if stored is not None else []
        result = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(found),
            "entry": [
                {"fullUrl": f"DocumentReference/{d['id']}", "resource": d, "search": {"mode": "match"}} for d in found
            ],
        }
        return fhir_response(json.loads(Bundle.model_validate(result).model_dump_json(exclude_none=True)))

    @app.get("/fhir/DocumentReference/{resource_id}")
    def read_document_reference(resource_id: str) -> Response:
        stored = registry.find_by_entry_uuid(f"urn:uuid:{resource_id}")
        if stored is None:
            return fhir_response(
                operation_outcome(
                    [("XDSUnknownDocument", f"Document {resource_id} inconnu.", "")], issue_type="not-found"
                ),
                404,
            )
        return fhir_response(document_reference_of(stored))

    @app.patch("/fhir/DocumentReference")
    async def patch_by_identifier(request: Request) -> Response:
        """Metadata update (TD3.3a/b): PATCH securityLabel of the DocumentReference `?identifier=system|value`."""
        token = request.query_params.get("identifier", "")
        return await patch_security_labels(request, stored_by_token(token), token)

    @app.patch("/fhir/DocumentReference/{resource_id}")
    async def patch_by_id(request: Request, resource_id: str) -> Response:
        stored = registry.find_by_entry_uuid(f"urn:uuid:{resource_id}")
        return await patch_security_labels(request, stored, resource_id)

    @app.get("/_state")
    def state() -> JSONResponse:
        return JSONResponse(registry.state())

    @app.post("/_reset")
    def reset() -> JSONResponse:
        registry.reset()
        return JSONResponse({"status": "ok"})

    @app.post("/_faults")
    async def set_faults(request: Request) -> JSONResponse:
        text = (await request.body()).decode("utf-8").strip()
        try:
            fault_state.set(FaultSpec.parse(text))
        except ValueError as exc:
            return JSONResponse({"code": "donnee_invalide", "message": str(exc)}, status_code=422)
        return JSONResponse({"status": "ok", "faults": text})

    @app.get("/_documents/{unique_id}")
    def document(unique_id: str) -> Response:
        stored = registry.get(unique_id)
        if stored is None:
            return JSONResponse(
                {"code": "introuvable", "message": f"Document {unique_id} inconnu."}, status_code=404
            )
        return Response(content=stored.content, media_type="text/xml")

    return app


__all__ = ["FaultSpec", "Registry", "StoredDocument", "create_app"]
