"""XDS.b metadata as the registry checks it (ITI-41 submissions) and the ITI-18 / ITI-57 handlers.
"""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.parse
import uuid

from cryptography import x509
from lxml import etree

from dcc.simulator import reference as valuesets
from dcc.simulator.dsg import SIGNATURE_TYPE, verify_signature_document
from dcc.simulator.ns import (
    ACTION,
    ACTION_ITI18,
    ACTION_ITI18_RESPONSE,
    ACTION_ITI57,
    APPROVED,
    CLASS_CODES,
    CLASS_SYSTEM,
    CODED,
    CONTENT_TYPE_SYSTEMS,
    CONTENT_TYPE_VS,
    DE_AUTHOR,
    DE_CLASS,
    DE_CONFIDENTIALITY,
    DE_FACILITY,
    DE_FORMAT,
    DE_PATIENT_ID,
    DE_PRACTICE,
    DE_TYPE,
    DE_UNIQUE_ID,
    DEPRECATED,
    DOC_ENTRY_TYPE,
    FAILURE,
    FORMAT_CODES,
    GET_DOCUMENTS,
    HAS_MEMBER,
    LCM_NS,
    NS,
    PS_OID,
    QUERY_NS,
    REQUIRED_SLOTS,
    RIM,
    RPLC,
    RS,
    SEVERITY_ERROR,
    SS_CONTENT_TYPE,
    SS_NODE,
    SS_PATIENT_ID,
    SS_SOURCE_ID,
    SS_UNIQUE_ID,
    STRUCT_OID,
    SUCCESS,
)
from dcc.simulator.reference import INS_OIDS, nir_problem
from dcc.simulator.registry import Candidate, Registry, SoapFault, StoredDocument, XdsError, _err
from dcc.simulator.soap import ParsedRequest, _check_action, _soap_envelope, verify_vihf
from dcc.simulator.trust import TrustStore


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


def check_content_type(code: str, system: str, label: str, loc: str) -> list[tuple[str, str, str]]:
    """A SubmissionSet content type (contentTypeCode / designationType) from JDV_J59-ContentTypeCode-DMP."""
    name = CONTENT_TYPE_SYSTEMS.get(system)
    if name is None:
        return [("XDSRegistryMetadataError",
                 f"{label} « {code} » : système {system or '(absent)'} hors de {CONTENT_TYPE_VS}", loc)]
    if name == "TRE_R209-TypeActivite":
        ok = re.fullmatch(r"\d{2}", code) is not None
    else:
        ok = valuesets.contains(CODED[DE_FACILITY][1], code) and valuesets.lookup(
            CODED[DE_FACILITY][1], code).system == system
    return [] if ok else [("XDSRegistryMetadataError", f"{label} « {code} » absent de {CONTENT_TYPE_VS} ({name})", loc)]


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


def _is_signature(obj: etree._Element) -> bool:
    """A DocumentEntry of the IHE DSG signature document (typeCode E1762, ASTM)."""
    return any((cl.get("nodeRepresentation"), _slots(cl).get("codingScheme", [""])[0]) == SIGNATURE_TYPE
               for cl in _classifications(obj, DE_TYPE))


def validate_submission(request: ParsedRequest, trust: TrustStore,
                        client_cert: x509.Certificate | None = None) -> tuple[str, list[Candidate]]:
    envelope = request.envelope
    action = envelope.findtext("soap:Header/wsa:Action", "", NS).strip()
    if action != ACTION:
        raise SoapFault("wsa:ActionNotSupported", f"Action WS-Addressing « {action} » non prise en charge.")
    vihf = verify_vihf(envelope, trust, client_cert)
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
    content_types = _classifications(ss, SS_CONTENT_TYPE)
    if len(content_types) != 1:
        errors.append(("XDSRegistryMetadataError", "XDSSubmissionSet.contentTypeCode absent", ss_id))
    else:
        errors += check_content_type(content_types[0].get("nodeRepresentation", ""),
                                     _slots(content_types[0]).get("codingScheme", [""])[0],
                                     "XDSSubmissionSet.contentTypeCode", ss_id)
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
    # the submission set's XAdES signature document (IHE DSG, typeCode E1762): checked, not stored
    signatures = [o for o in entries if _is_signature(o)]
    entries = [o for o in entries if not _is_signature(o)]
    if not entries:
        errors.append(("XDSRegistryMetadataError", "aucun DocumentEntry dans la soumission", ss_id))
    if len(signatures) != 1:
        errors.append(("XDSRegistryError", "lot de soumission non signé : un document de signature XAdES "
                       "(typeCode E1762) attendu" if not signatures else "plusieurs documents de signature",
                       ss_id))
    else:
        sig_id = signatures[0].get("id", "")
        if sig_id not in members:
            errors.append(("XDSRegistryMetadataError", f"{sig_id} n'est pas membre du lot (HasMember)", sig_id))
        signed = {_external_ids(o).get(DE_UNIQUE_ID, ""): documents.get(o.get("id", ""), b"") for o in entries}
        errors += verify_signature_document(documents.pop(sig_id, None), signed, trust, sig_id)
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


def handle_get_documents(request: ParsedRequest, registry: Registry, trust: TrustStore,
                         client_cert: x509.Certificate | None = None) -> bytes:
    """ITI-18 GetDocuments by $XDSDocumentEntryUniqueId, restricted to the VIHF's patient (resource-id)."""
    envelope = request.envelope
    _check_action(envelope, ACTION_ITI18)
    vihf = verify_vihf(envelope, trust, client_cert)
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


def handle_update(request: ParsedRequest, registry: Registry, trust: TrustStore,
                  client_cert: x509.Certificate | None = None) -> None:
    """ITI-57 Update Document Set, DocumentEntry metadata update only (new version, same uniqueId).

    The new version is validated like an ITI-41 DocumentEntry against the stored bytes (hash, size),
    then must name the current version: `lid` = logicalId, HasMember slot `PreviousVersion`."""
    envelope = request.envelope
    _check_action(envelope, ACTION_ITI57)
    vihf = verify_vihf(envelope, trust, client_cert)
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


