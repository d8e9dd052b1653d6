"""MHD ITI-65 / ITI-67 (PDSm) of the simulator: Bundle and DocumentReference checks, FHIR answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.responses import Response
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.operationoutcome import OperationOutcome
from pydantic import ValidationError

from dcc.simulator import reference as valuesets
from dcc.simulator.ns import (
    CANONICAL_SYSTEMS,
    CLASS_CODES,
    CLASS_SYSTEM,
    CONFIDENTIALITY_LEVELS,
    FORMAT_CODES,
    JDV_J110,
    JDV_J110_CODES,
    JDV_J110_SYSTEM,
    PS_OID,
    STRUCT_OID,
)
from dcc.simulator.registry import Candidate, StoredDocument, XdsError
from dcc.simulator.xds import check_content_type, check_ins_cx

# --- MHD ITI-65 (PDSm) -------------------------------------------------------------------------------

FHIR_JSON = "application/fhir+json"
URI_SYSTEM = "urn:ietf:rfc:3986"
LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
EXT_SOURCE_ID = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId"
EXT_DESIGNATION_TYPE = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType"
CONFIDENTIALITY_SYSTEM = "2.16.840.1.113883.5.25"
FHIR_SYSTEM_OIDS = {uri: oid for oid, uri in CANONICAL_SYSTEMS.items()}
FHIR_URIS = dict(CANONICAL_SYSTEMS)
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


def canonical_system_errors(data: Any, path: str = "Bundle") -> list[tuple[str, str, str]]:
    """Every Coding (a JSON object with `system` and `code`) whose system is `urn:oid:<oid>` for a code system
    that has a canonical URL: the PDSm bindings name the NOS / HL7 canonical URL, so the DMP refuses these."""
    errors: list[tuple[str, str, str]] = []
    if isinstance(data, dict):
        system = data.get("system")
        if "code" in data and isinstance(system, str) and system.startswith("urn:oid:"):
            canonical = CANONICAL_SYSTEMS.get(system.removeprefix("urn:oid:"))
            if canonical is not None:
                errors.append(
                    ("XDSRegistryMetadataError", f"{path} : système {system} refusé, URL canonique {canonical} "
                     "attendue (profils PDSm)", path)
                )
        for key, value in data.items():
            if key not in ("data", "div"):
                errors += canonical_system_errors(value, f"{path}.{key}")
    elif isinstance(data, list):
        for index, value in enumerate(data):
            errors += canonical_system_errors(value, f"{path}[{index}]")
    return errors


def check_security_labels(labels: list[Any], loc: str) -> tuple[list[str], list[tuple[str, str, str]]]:
    """PDSm securityLabel slices: one `confidentiality` N/R/V (v3-Confidentiality), then `visibilityStatus`
    labels from JDV_J110 (TRE_A07). Returns the codes and the errors."""
    codes: list[str] = []
    errors: list[tuple[str, str, str]] = []
    levels = 0
    for label in labels:
        codings = _codings(label)
        if len(codings) != 1:
            errors.append(("XDSRegistryMetadataError", "securityLabel : un code attendu", loc))
            continue
        code, system = str(codings[0].code or ""), _oid(codings[0].system)
        if code in CONFIDENTIALITY_LEVELS and system == CONFIDENTIALITY_SYSTEM:
            levels += 1
        elif code not in JDV_J110_CODES or system != JDV_J110_SYSTEM:
            errors.append(
                ("XDSRegistryMetadataError", f"securityLabel « {code} » ({system}) : ni N/R/V ni {JDV_J110}", loc)
            )
        codes.append(code)
    if levels != 1:
        errors.append(("XDSRegistryMetadataError", "securityLabel : un et un seul niveau N, R ou V attendu", loc))
    return codes, errors


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
    confidentiality, label_errors = check_security_labels(list(doc.securityLabel or []), loc)
    errors += label_errors

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
    replaces_id = None
    for relation in doc.relatesTo or []:
        if relation.code != "replaces":
            errors.append(("XDSRegistryMetadataError", f"relatesTo « {relation.code} » : « replaces » attendu", loc))
            continue
        target = relation.target
        reference = str(getattr(target, "reference", "") or "")
        replaces_id = reference.removeprefix("DocumentReference/") if reference.startswith("DocumentReference/") else ""
        replaces = (unique_id_of(target.identifier) if target is not None else "") or None
        if not replaces_id or "/" in replaces_id:
            errors.append(
                ("XDSRegistryMetadataError", "relatesTo replaces : référence DocumentReference/<id> attendue", loc)
            )
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
            replaces_entry_uuid=f"urn:uuid:{replaces_id}" if replaces_id else None,
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

    errors: list[tuple[str, str, str]] = canonical_system_errors(data)
    updates: dict[str, tuple[str, Any]] = {}  # resource id -> (fullUrl, DocumentReference marked superseded)
    lists: list[tuple[str, Any]] = []
    documents: list[tuple[str, Any]] = []
    binaries: dict[str, bytes] = {}
    item: Any
    for item in bundle.entry or []:
        url = str(item.fullUrl or "")
        if item.resource is None or not url:
            errors.append(("XDSRegistryMetadataError", "entrée sans fullUrl ou sans ressource", url))
            continue
        kind = item.resource.get_resource_type()
        if kind == "DocumentReference" and item.request is not None and item.request.method == "PUT":
            # UpdateDocumentRefs (MHD ITI-65, PDSm TD2.1): the replaced DocumentReference, marked superseded.
            resource_id = str(item.resource.id or "")
            if item.request.url != f"DocumentReference/{resource_id}" or not resource_id:
                errors.append(("XDSRegistryMetadataError", "mise à jour : request.url DocumentReference/<id> "
                               "attendue, égale à l'id de la ressource", url))
            elif item.resource.status != "superseded":
                errors.append(("XDSRegistryMetadataError", f"mise à jour du document {resource_id} : status "
                               f"« {item.resource.status} », « superseded » attendu", url))
            elif item.resource.meta is None or not item.resource.meta.versionId:
                # PDSm constr-cdr-maj: meta.versionId is required when the flow updates a fiche
                errors.append(("XDSRegistryMetadataError", f"mise à jour du document {resource_id} : "
                               "meta.versionId absent", url))
            else:
                updates[resource_id] = (url, item.resource)
            continue
        if item.request is None or item.request.method != "POST":
            errors.append(("XDSRegistryMetadataError", "request.method POST attendu", url))
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
    else:
        codings = _codings(extensions[EXT_DESIGNATION_TYPE].valueCodeableConcept)
        if len(codings) != 1:
            errors.append(("XDSRegistryMetadataError", "SubmissionSet.designationType : un code attendu", ss_url))
        else:
            errors += check_content_type(str(codings[0].code or ""), _oid(codings[0].system),
                                         "SubmissionSet.designationType", ss_url)
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
    targets = {c.replaces_entry_uuid.removeprefix("urn:uuid:") for c in candidates if c.replaces_entry_uuid}
    for target in targets - set(updates):
        errors.append(("XDSRegistryMetadataError", f"remplacement de DocumentReference/{target} sans la mise à "
                       "jour qui le marque « superseded » dans le lot", ss_url))
    for candidate in candidates:
        target_id = (candidate.replaces_entry_uuid or "").removeprefix("urn:uuid:")
        if target_id in updates:
            candidate.replaces_version = str(updates[target_id][1].meta.versionId)
    for orphan in set(updates) - targets:
        errors.append(("XDSRegistryMetadataError", f"DocumentReference/{orphan} marqué « superseded » sans "
                       "document qui le remplace (relatesTo)", updates[orphan][0]))
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
        "meta": {"versionId": str(doc.version)},
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
    raw_system = str(codings[0].get("system", ""))
    errors = canonical_system_errors(codings[0], where)
    if errors:
        raise FhirError(422, errors)
    code, system = str(codings[0].get("code", "")), _oid(raw_system)
    level = code in CONFIDENTIALITY_LEVELS and system == CONFIDENTIALITY_SYSTEM
    if not level and (code not in JDV_J110_CODES or system != JDV_J110_SYSTEM):
        raise FhirError(
            422, [("XDSRegistryMetadataError", f"{where} : « {code} » ({system}) ni N/R/V ni {JDV_J110}", "")]
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


