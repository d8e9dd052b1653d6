"""IHE MHD ITI-65 Provide Document Bundle for the DMP (French PDSm profile), FHIR R4 JSON over HTTP.

- `build_bundle` turns the CDA and its `DocumentEntry` (the same metadata the XDS path sends, see
  `metadata.entry_from_cda`) into a `transaction` Bundle built with the `fhir.resources.R4B` models:
  a SubmissionSet `List`, one `DocumentReference` (Comprehensive metadata) and the `Binary` holding
  the CDA, each with a `urn:uuid:` fullUrl and `request.method = POST`. Code systems are written as their
  canonical URLs and securityLabel follows the PDSm slices (`fhir_terms`). A replacement reads the replaced
  DocumentReference from the DMP first (ITI-67), names it in `relatesTo` (`replaces`) and PUTs it back with
  `status: superseded` in the same transaction.
- `MhdTransport.submit` posts it to `{base_url}/fhir` and maps the answer to an `MhdSubmitResult`
  (transaction-response Bundle) or a `DeliveryError`: failures are classified by
  `dcc.adapters.http_failures.classify_failure` (the status, and the OperationOutcome's issue type) as
  for every transport; network errors are transient (with `Retry-After` when given).
- `MhdTransport.update_security_labels` PATCHes (JSON Patch) the DocumentReference's `securityLabel`
  found by its uniqueId: the announcement removes `INVISIBLE_PATIENT` without resubmitting anything.

FHIR version: fhir.resources 8 has no R4 (4.0.1) package; R4B serialises Bundle, List,
DocumentReference and Binary exactly as R4 does, so only `fhir.resources.R4B` is used here.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from fhir.resources.R4B.binary import Binary
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.list import List as FhirList
from fhir.resources.R4B.operationoutcome import OperationOutcome
from pydantic import ValidationError

from dcc.adapters.http_failures import Failure, classify_failure
from dcc.adapters.national_record.fhir_terms import (
    coding,
    concept,
    security_labels,
)
from dcc.adapters.national_record.metadata import (
    CodedValue,
    DocumentEntry,
    parse_cx,
)
from dcc.adapters.national_record.xds import (
    PERMANENT_MESSAGES,
    HttpClientOwner,
    check_sendable,
    dmp_refused_http,
    dmp_unavailable,
    entry_uuid_for,
    new_oid,
    parse_retry_after,
)
from dcc.domain.identifiers import PS_ID_OID, STRUCT_ID_OID
from dcc.errors import DeliveryError

# --- profiles, code systems and extensions ----------------------------------------------------------

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"

PROFILE_BUNDLE = (
    "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Comprehensive.ProvideBundle",
    "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-provide-document-bundle",
)
PROFILE_SUBMISSION_SET = (
    "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Comprehensive.SubmissionSet",
    "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-submissionset-comprehensive",
)
PROFILE_DOCUMENT_REFERENCE = (
    "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Comprehensive.DocumentReference",
    "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference",
)
EXT_SOURCE_ID = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId"
EXT_DESIGNATION_TYPE = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType"
LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
URI_SYSTEM = "urn:ietf:rfc:3986"

MAX_RESPONSE_BYTES = 5 * 1024 * 1024
# FHIR R4 IssueType (http://hl7.org/fhir/issue-type) codes that mean "try again later": the "transient" family
# and "exception" (an unexpected internal error of the server).
TRANSIENT_ISSUES = {"transient", "throttled", "timeout", "lock-error", "exception"}


def _fields(**values: Any) -> dict[str, Any]:
    """Keyword arguments as the dict a fhir.resources model validates (fields named as in FHIR)."""
    return values


def unique_id_identifier(unique_id: str) -> dict[str, str]:
    """masterIdentifier of a uniqueId: `urn:oid:<root>` (RFC 3986) or, for `root^ext`, system = root."""
    root, _, ext = unique_id.partition("^")
    if ext:
        return {"system": f"urn:oid:{root}", "value": ext}
    return {"system": URI_SYSTEM, "value": f"urn:oid:{root}"}


def identifier_token(unique_id: str) -> str:
    """The `identifier` search token (`system|value`) of a uniqueId."""
    ident = unique_id_identifier(unique_id)
    return f"{ident['system']}|{ident['value']}"


def fhir_datetime(xds_dtm: str) -> str:
    """An XDS DTM (UTC, `YYYY[MM[DD[HH[MM[SS]]]]]`) as a FHIR date or dateTime."""
    value = xds_dtm.strip()
    if len(value) >= 12:
        padded = value.ljust(14, "0")
        return f"{padded[0:4]}-{padded[4:6]}-{padded[6:8]}T{padded[8:10]}:{padded[10:12]}:{padded[12:14]}Z"
    if len(value) >= 8:
        return f"{value[0:4]}-{value[4:6]}-{value[6:8]}"
    if len(value) >= 6:
        return f"{value[0:4]}-{value[4:6]}"
    return value[0:4]


def _hl7_unescape(value: str) -> str:
    for esc, char in (("\\F\\", "|"), ("\\S\\", "^"), ("\\T\\", "&"), ("\\R\\", "~"), ("\\E\\", "\\")):
        value = value.replace(esc, char)
    return value


def _practitioner(resource_id: str, xcn: str) -> dict[str, Any]:
    parts = xcn.split("^")
    out: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": resource_id,
        "identifier": [{"system": f"urn:oid:{PS_ID_OID}", "value": parts[0]}],
    }
    family = _hl7_unescape(parts[1]) if len(parts) > 1 else ""
    given = _hl7_unescape(parts[2]) if len(parts) > 2 else ""
    if family:
        out["name"] = [{"family": family, **({"given": [given]} if given else {})}]
    return out


def _organization(resource_id: str, xon: str) -> dict[str, Any]:
    parts = xon.split("^")
    out: dict[str, Any] = {
        "resourceType": "Organization",
        "id": resource_id,
        "identifier": [{"system": f"urn:oid:{STRUCT_ID_OID}", "value": parts[9] if len(parts) > 9 else ""}],
    }
    if parts[0]:
        out["name"] = _hl7_unescape(parts[0])
    return out


def _source_patient(entry: DocumentEntry) -> dict[str, Any]:
    """Contained Patient for `context.sourcePatientInfo`: local id (IPP) and the patient's traits."""
    local_id, oid, _ = parse_cx(entry.source_patient_id)
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": "source-patient",
        "identifier": [{"system": f"urn:oid:{oid}", "value": local_id}],
    }
    for info in entry.source_patient_info:
        key, _, value = info.partition("|")
        if key == "PID-5":
            parts = value.split("^")
            name: dict[str, Any] = {"family": _hl7_unescape(parts[0])}
            if len(parts) > 1 and parts[1]:
                name["given"] = [_hl7_unescape(parts[1])]
            patient["name"] = [name]
        elif key == "PID-7" and len(value) >= 8:
            patient["birthDate"] = fhir_datetime(value[:8])
        elif key == "PID-8":
            patient["gender"] = {"M": "male", "F": "female"}.get(value, "unknown")
    return patient


def patient_reference(entry: DocumentEntry) -> dict[str, Any]:
    """Reference to the patient by INS: conditional reference plus logical identifier."""
    matricule, oid, _ = parse_cx(entry.patient_id)
    return {
        "reference": f"Patient?identifier=urn:oid:{oid}|{matricule}",
        "type": "Patient",
        "identifier": {"system": f"urn:oid:{oid}", "value": matricule},
    }


def _b64_sha1(entry: DocumentEntry) -> str:
    return base64.b64encode(bytes.fromhex(entry.hash_sha1)).decode("ascii")


def source_oid_for(structure_id_nat: str) -> str:
    """SubmissionSet.sourceId derived from the sending structure (the same rule as the XDS identity)."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, 'dcc:' + structure_id_nat).int}"


# --- bundle -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplacedDocument:
    """The DocumentReference a replacement supersedes, as the DMP returned it (ITI-67 search by identifier):
    its server id is what `relatesTo.target` and the update entry name, never an id computed locally."""

    unique_id: str
    resource_id: str
    resource: dict[str, Any]  # the DocumentReference JSON as read
    url: str  # its absolute URL (`{endpoint}/DocumentReference/{id}`), the update entry's fullUrl


def superseded_update(replaced: ReplacedDocument) -> dict[str, Any]:
    """The transaction entry that marks the replaced DocumentReference `superseded` (IHE MHD ITI-65
    Comprehensive ProvideBundle, UpdateDocumentRefs: PUT of the replaced DocumentReference; PDSm TD2.1)."""
    resource = {**replaced.resource, "status": "superseded", "id": replaced.resource_id}
    # PDSm constr-cdr-maj: an update of a fiche carries the meta.versionId the DMP returned
    version = (replaced.resource.get("meta") or {}).get("versionId")
    if version:
        resource["meta"] = {"versionId": version}
    else:
        resource.pop("meta", None)
    return _fields(
        fullUrl=replaced.url,
        resource=DocumentReference.model_validate(resource),
        request={"method": "PUT", "url": f"DocumentReference/{replaced.resource_id}"},
    )


@dataclass(frozen=True)
class ProvideBundle:
    """An ITI-65 request ready to post, and the ids it carries."""

    bundle: Bundle
    body: bytes
    entry_uuid: str  # fullUrl of the DocumentReference (stable per uniqueId)
    binary_url: str
    submission_set_unique_id: str


def build_bundle(
    cda: bytes,
    entry: DocumentEntry,
    *,
    source_id: str | None = None,
    replaces_unique_id: str | None = None,
    submission_set_unique_id: str | None = None,
    submission_time: dt.datetime | None = None,
    replaced: ReplacedDocument | None = None,
) -> ProvideBundle:
    """Check the codes, then build the ITI-65 transaction Bundle for `cda` (hash and size must match).
    A replacement needs `replaced`, the superseded DocumentReference as the DMP holds it."""
    check_sendable(cda, entry)
    replaced_uid = replaces_unique_id or entry.replaces
    if replaced_uid and (replaced is None or replaced.unique_id != replaced_uid):
        raise ValueError(f"replacement of {replaced_uid}: the DocumentReference read from the DMP is needed")
    doc_url = entry_uuid_for(entry.unique_id)
    binary_url = f"urn:uuid:{uuid.uuid4()}"
    list_url = f"urn:uuid:{uuid.uuid4()}"
    ss_unique_id = submission_set_unique_id or new_oid()
    when = (submission_time or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    subject = patient_reference(entry)

    author_contained = [
        _practitioner("author-ps", entry.author_person),
        _organization("author-org", entry.author_institution),
    ]
    role: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": "author",
        "practitioner": {"reference": "#author-ps"},
        "organization": {"reference": "#author-org"},
    }
    if entry.author_specialty is not None:
        role["specialty"] = [concept(entry.author_specialty)]
    if entry.author_role:
        role["code"] = [{"text": entry.author_role}]
    author_contained.append(role)

    contained = [*author_contained, _source_patient(entry)]
    authenticator = None
    if entry.legal_authenticator:
        if entry.legal_authenticator.split("^", 1)[0] == entry.author_id:
            authenticator = {"reference": "#author-ps"}
        else:
            contained.append(_practitioner("legal-authenticator", entry.legal_authenticator))
            authenticator = {"reference": "#legal-authenticator"}

    creation = fhir_datetime(entry.creation_time)
    period: dict[str, str] = {"start": fhir_datetime(entry.service_start or entry.creation_time)}
    if entry.service_stop:
        period["end"] = fhir_datetime(entry.service_stop)

    document = DocumentReference.model_validate(
        _fields(
            meta={"profile": list(PROFILE_DOCUMENT_REFERENCE)},
            contained=contained,
            masterIdentifier=unique_id_identifier(entry.unique_id),
            identifier=[{"use": "official", "system": URI_SYSTEM, "value": doc_url}],
            status="current",
            type=concept(entry.type_code),
            category=[concept(entry.class_code)],
            subject=subject,
            date=creation,
            author=[{"reference": "#author"}],
            authenticator=authenticator,
            custodian={"reference": "#author-org"},
            # PDSm constr-cdr-rempl: relatesTo (code "replaces") when the flow replaces a document; the target is
            # the replaced DocumentReference (its server id), with its uniqueId as the logical identifier.
            relatesTo=(
                [
                    {
                        "code": "replaces",
                        "target": {
                            "reference": f"DocumentReference/{replaced.resource_id}",
                            "type": "DocumentReference",
                            "identifier": unique_id_identifier(replaced.unique_id),
                        },
                    }
                ]
                if replaced is not None
                else None
            ),
            description=entry.title or None,
            securityLabel=security_labels(entry.confidentiality),
            content=[
                {
                    "attachment": {
                        "contentType": entry.mime_type,
                        "language": entry.language_code,
                        "url": binary_url,
                        "size": entry.size,
                        "hash": _b64_sha1(entry),
                        "title": entry.title or None,
                        "creation": creation,
                    },
                    "format": coding(entry.format_code),
                }
            ],
            context={
                "period": period,
                "facilityType": concept(entry.healthcare_facility_type),
                "practiceSetting": concept(entry.practice_setting),
                "sourcePatientInfo": {"reference": "#source-patient"},
            },
        )
    )
    content_type = entry.content_type  # JDV_J59 (checked by check_sendable before any bundle is built)
    assert content_type is not None
    submission_set = FhirList.model_validate(
        _fields(
            meta={"profile": list(PROFILE_SUBMISSION_SET)},
            contained=[*author_contained],
            extension=[
                {
                    "url": EXT_SOURCE_ID,
                    "valueIdentifier": {
                        "system": URI_SYSTEM,
                        "value": f"urn:oid:{source_id or source_oid_for(entry.author_structure_id)}",
                    },
                },
                {"url": EXT_DESIGNATION_TYPE, "valueCodeableConcept": concept(content_type)},
            ],
            identifier=[
                {"use": "usual", "system": URI_SYSTEM, "value": f"urn:oid:{ss_unique_id}"},
                {"use": "official", "system": URI_SYSTEM, "value": list_url},
            ],
            status="current",
            mode="working",
            code={"coding": [{"system": LIST_TYPES, "code": "submissionset"}]},
            subject=subject,
            date=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            source={"reference": "#author"},
            entry=[{"item": {"reference": doc_url}}],
        )
    )
    binary = Binary.model_validate(_fields(contentType=entry.mime_type, data=base64.b64encode(cda).decode("ascii")))
    bundle = Bundle.model_validate(
        _fields(
            meta={"profile": list(PROFILE_BUNDLE)},
            type="transaction",
            timestamp=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            entry=[
                _fields(fullUrl=url, resource=resource, request={"method": "POST", "url": kind})
                for url, resource, kind in (
                    (list_url, submission_set, "List"),
                    (doc_url, document, "DocumentReference"),
                    (binary_url, binary, "Binary"),
                )
            ]
            + ([superseded_update(replaced)] if replaced is not None else []),
        )
    )
    body = bundle.model_dump_json(exclude_none=True).encode("utf-8")
    return ProvideBundle(
        bundle=bundle,
        body=body,
        entry_uuid=doc_url,
        binary_url=binary_url,
        submission_set_unique_id=ss_unique_id,
    )


def security_label_patch(labels: Sequence[str | CodedValue]) -> list[dict[str, Any]]:
    """JSON Patch replacing `DocumentReference.securityLabel` with `labels` (codes checked first)."""
    return [{"op": "replace", "path": "/securityLabel", "value": security_labels(labels)}]


# --- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MhdSubmitResult:
    unique_id: str
    entry_uuid: str
    submission_set_unique_id: str
    status: str  # "Success"
    http_status: int
    locations: tuple[str, ...] = field(default_factory=tuple)  # entry.response.location of each entry
    excerpt: str = ""

    @property
    def status_code(self) -> int:
        return self.http_status


@dataclass(frozen=True)
class MhdUpdateResult:
    unique_id: str
    security_labels: tuple[str, ...]
    http_status: int
    excerpt: str = ""

    @property
    def status_code(self) -> int:
        return self.http_status


def _excerpt(content: bytes) -> str:
    return content[:500].decode("utf-8", "replace")


def parse_operation_outcome(content: bytes) -> OperationOutcome | None:
    try:
        data = json.loads(content)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("resourceType") != "OperationOutcome":
        return None
    try:
        return OperationOutcome.model_validate(data)
    except (ValidationError, ValueError, KeyError):
        return None


def _outcome_details(outcome: OperationOutcome) -> tuple[str, str, set[str]]:
    """(first error code, French text of the blocking issues, issue type codes) of an OperationOutcome."""
    texts: list[str] = []
    first_code = ""
    kinds: set[str] = set()
    for issue in outcome.issue or []:
        if issue.severity in ("information", "warning"):
            continue
        kinds.add(str(issue.code))
        codings = issue.details.coding if issue.details is not None and issue.details.coding else []
        detail_code = str(codings[0].code) if codings and codings[0].code else ""
        first_code = first_code or detail_code or str(issue.code)
        text = (issue.details.text if issue.details is not None else None) or issue.diagnostics or ""
        texts.append(f"{detail_code} : {text}" if detail_code and text else text or detail_code)
    return first_code, "; ".join(t for t in texts if t), kinds


# --- transport --------------------------------------------------------------------------------------


class MhdTransport(HttpClientOwner):
    """Posts ITI-65 bundles to `{base_url}/fhir` (the DMP's PDSm endpoint, or the simulator)."""

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.Client | None = None,
        timeout: float | httpx.Timeout | None = None,
        source_id: str | None = None,
    ) -> None:
        super().__init__(client, timeout)
        self.base_url = base_url.rstrip("/")
        self.endpoint = f"{self.base_url}/fhir"
        self.source_id = source_id

    # -- ITI-65 --

    def submit(self, cda: bytes, entry: DocumentEntry, *, replaces_unique_id: str | None = None) -> MhdSubmitResult:
        """Send `cda` with `entry`. Raises ValidationFailed/UnknownCode before sending if a code is out
        of its value set, DeliveryError(permanent=...) when the DMP refuses or cannot be reached.

        Safe to retry with the same bytes: the registry keys documents by uniqueId."""
        replaced_uid = replaces_unique_id or entry.replaces
        # The replaced DocumentReference as the DMP holds it (ITI-67 search; CI-SIS TD2.1): an unknown target is a
        # permanent refusal, as over XDS (the RPLC target comes from the registry, never computed locally).
        replaced = self.find_document(replaced_uid, replacing=True) if replaced_uid else None
        request = build_bundle(
            cda, entry, source_id=self.source_id, replaces_unique_id=replaces_unique_id, replaced=replaced
        )
        response = self._send("POST", self.endpoint, content=request.body, content_type=FHIR_JSON)
        status = response.status_code
        content = response.content[:MAX_RESPONSE_BYTES]
        self._raise_for_error(response, content)
        try:
            answer = Bundle.model_validate_json(content)
        except (ValidationError, ValueError, KeyError):
            answer = None
        if answer is None or answer.type != "transaction-response":
            raise DeliveryError(
                "Réponse du DMP illisible ; le document sera renvoyé à l'identique.",
                permanent=False,
                status=status,
                error_code="reponse_illisible",
                excerpt=_excerpt(content),
            )
        locations: list[str] = []
        for item in answer.entry or []:
            item_status = str(item.response.status) if item.response is not None else ""
            if not item_status.startswith("2"):
                raise DeliveryError(
                    f"Le DMP a refusé une ressource du lot (statut « {item_status} »).",
                    permanent=True,
                    status=status,
                    error_code="entree_refusee",
                    excerpt=_excerpt(content),
                )
            if item.response is not None and item.response.location:
                locations.append(str(item.response.location))
        return MhdSubmitResult(
            unique_id=entry.unique_id,
            entry_uuid=request.entry_uuid,
            submission_set_unique_id=request.submission_set_unique_id,
            status="Success",
            http_status=status,
            locations=tuple(locations),
            excerpt=_excerpt(content),
        )

    # -- metadata update (PATCH securityLabel) --

    def update_security_labels(self, unique_id: str, labels: Sequence[str | CodedValue]) -> MhdUpdateResult:
        """Replace the securityLabel of the DocumentReference with uniqueId `unique_id` by `labels`
        (e.g. ["N"] after the announcement, removing INVISIBLE_PATIENT). Same uniqueId, nothing resent;
        idempotent, so safe to retry."""
        patch = security_label_patch(labels)
        url = str(httpx.URL(f"{self.endpoint}/DocumentReference", params={"identifier": identifier_token(unique_id)}))
        response = self._send("PATCH", url, content=json.dumps(patch).encode("utf-8"), content_type=JSON_PATCH)
        content = response.content[:MAX_RESPONSE_BYTES]
        self._raise_for_error(response, content)
        return MhdUpdateResult(
            unique_id=unique_id,
            security_labels=tuple(v["coding"][0]["code"] for v in patch[0]["value"]),
            http_status=response.status_code,
            excerpt=_excerpt(content),
        )

    def find_document(self, unique_id: str, *, replacing: bool = False) -> ReplacedDocument:
        """The DocumentReference the DMP holds for `unique_id` (ITI-67 search by identifier)."""
        url = str(httpx.URL(f"{self.endpoint}/DocumentReference", params={"identifier": identifier_token(unique_id)}))
        response = self._send("GET", url)
        content = response.content[:MAX_RESPONSE_BYTES]
        self._raise_for_error(response, content)
        try:
            found = Bundle.model_validate_json(content)
            documents = [
                json.loads(e.resource.model_dump_json(exclude_none=True))
                for e in found.entry or []
                if e.resource is not None and e.resource.get_resource_type() == "DocumentReference"
            ]
        except (ValidationError, ValueError, KeyError):
            raise DeliveryError(
                "Réponse du DMP illisible (recherche du document).",
                permanent=False,
                status=response.status_code,
                error_code="reponse_illisible",
                excerpt=_excerpt(content),
            ) from None
        if not documents or not documents[0].get("id"):
            raise DeliveryError(
                f"Le DMP ne contient pas le document remplacé ({unique_id}) : remplacement impossible."
                if replacing
                else f"Le DMP ne connaît pas le document {unique_id} : métadonnées non mises à jour.",
                permanent=True,
                status=response.status_code,
                error_code="document_remplace_inconnu" if replacing else "document_inconnu",
                excerpt=_excerpt(content),
            )
        document = documents[0]
        resource_id = str(document["id"])
        return ReplacedDocument(unique_id, resource_id, document, f"{self.endpoint}/DocumentReference/{resource_id}")

    def security_labels(self, unique_id: str) -> tuple[str, ...]:
        """The confidentiality codes the DMP holds for `unique_id` (ITI-67 search by identifier)."""
        document = self.find_document(unique_id).resource
        return tuple(
            str(c.get("code", "")) for label in document.get("securityLabel") or [] for c in label.get("coding") or []
        )

    def set_security_label(self, unique_id: str, code: str, *, present: bool) -> MhdUpdateResult:
        """Add (`present`) or remove one confidentiality code (INVISIBLE_PATIENT, MASQUE_PS), keeping the
        others as the DMP holds them: read, then PATCH the whole securityLabel. No-op if already so."""
        current = self.security_labels(unique_id)
        if (code in current) == present:
            return MhdUpdateResult(unique_id, current, 200, "Métadonnées du DMP déjà à jour.")
        wanted = [*current, code] if present else [c for c in current if c != code]
        return self.update_security_labels(unique_id, wanted)

    # -- HTTP and error mapping --

    def _send(self, method: str, url: str, *, content: bytes | None = None, content_type: str = "") -> httpx.Response:
        headers = {"Accept": FHIR_JSON}
        if content_type:
            headers["Content-Type"] = content_type
        return self._request(method, url, content=content, headers=headers,
                             after_failure="le document a peut-être été reçu, il sera renvoyé à l'identique.")

    def _raise_for_error(self, response: httpx.Response, content: bytes) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        outcome = parse_operation_outcome(content)
        code, text, kinds = _outcome_details(outcome) if outcome is not None else ("", "", set())
        explained = None
        if outcome is not None:
            explained = Failure.TRANSIENT if kinds & TRANSIENT_ISSUES else Failure.PERMANENT
        if classify_failure(status, explained=explained) is Failure.TRANSIENT:
            raise dmp_unavailable(status, retry_after=retry_after, content=content, detail=text)
        if outcome is None:
            raise dmp_refused_http(status, content=content)
        if status == 404:
            message = "Le DMP ne connaît pas ce document."
        else:
            message = PERMANENT_MESSAGES.get(code, "Le DMP a refusé le document.")
        raise DeliveryError(
            f"{message} ({text})" if text else message,
            permanent=True,
            status=status,
            error_code=code or f"http_{status}",
            excerpt=_excerpt(content),
        )


__all__ = [
    "MhdSubmitResult",
    "MhdTransport",
    "MhdUpdateResult",
    "ProvideBundle",
    "ReplacedDocument",
    "build_bundle",
    "security_label_patch",
]
