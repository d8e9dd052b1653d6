"""ITI-18 Registry Stored Query (GetDocuments) and ITI-57 Update Document Set: the metadata update of a
document already in the DMP.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass

import httpx
from lxml import etree

from dcc.adapters.national_record.ebrim import (
    _PARSER,
    ASSOC_HAS_MEMBER,
    LCM,
    QUERY,
    RIM,
    SOAP,
    STATUS_APPROVED,
    UUID_DE_CONFIDENTIALITY,
    UUID_DE_UNIQUE_ID,
    _new_id,
    _q,
    _slot,
    _soap_envelope,
    add_association,
    add_document_entry,
    add_submission_set,
    new_oid,
)
from dcc.adapters.national_record.metadata import CodedValue, DocumentEntry, check_codes
from dcc.adapters.national_record.mtom import soap_from_response
from dcc.adapters.national_record.responses import (
    MAX_RESPONSE_BYTES,
    UPDATE_TRANSIENT_CODES,
    HttpClientOwner,
    Parsed,
    RegistryError,
    SubmitResult,
    _excerpt,
    _registry_errors,
    parse_registry_response,
    parse_retry_after,
    soap_failure,
)
from dcc.adapters.national_record.vihf import SenderIdentity, build_vihf
from dcc.errors import DeliveryError

ACTION_ITI57 = "urn:ihe:iti:2010:UpdateDocumentSet"
ACTION_ITI57_RESPONSE = "urn:ihe:iti:2010:UpdateDocumentSetResponse"
ACTION_ITI18 = "urn:ihe:iti:2007:RegistryStoredQuery"
ACTION_ITI18_RESPONSE = "urn:ihe:iti:2007:RegistryStoredQueryResponse"
QUERY_GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"  # ITI-18 GetDocuments


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
    entry: DocumentEntry, *, identity: SenderIdentity, endpoint: str, message_id: str, unique_id: str | None = None
) -> etree._Element:
    """SOAP 1.2 envelope of an ITI-18 GetDocuments stored query by uniqueId (LeafClass, metadata level 2): of
    `entry`'s document, or of `unique_id` (e.g. the document `entry` replaces) when given; the VIHF is
    `entry`'s (same patient, same author)."""
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
    _slot(query, "$XDSDocumentEntryUniqueId", f"('{unique_id or entry.unique_id}')")
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
        entries = self._query(entry, entry.unique_id)
        approved = [e for e in entries if e.status in ("", STATUS_APPROVED)]
        return approved[-1] if approved else None

    def replacement_target(self, entry: DocumentEntry) -> RegistryEntry | None:
        """The registry entry an RPLC of `entry` must target (CI-SIS TD2.1: the entryUUID of the replaced
        document is obtained by a TD3.1 / ITI-18 query, DMP_3.1): the approved version of `entry.replaces`,
        else its latest version (already Deprecated when this very replacement was registered by an attempt
        whose answer was lost: resending it then lets the registry recognise the identical submission).
        None when the registry does not hold the replaced document."""
        assert entry.replaces
        entries = self._query(entry, entry.replaces)
        approved = [e for e in entries if e.status in ("", STATUS_APPROVED)]
        return approved[-1] if approved else (entries[-1] if entries else None)

    def _query(self, entry: DocumentEntry, unique_id: str) -> list[RegistryEntry]:
        message_id = f"urn:uuid:{uuid.uuid4()}"
        envelope = build_get_documents_query(
            entry, identity=self.identity, endpoint=self.query_endpoint, message_id=message_id, unique_id=unique_id
        )
        response = self._post(self.query_endpoint, envelope, ACTION_ITI18)
        soap = self._soap(response)
        entries: list[RegistryEntry] = []
        parsed: Parsed | None = None
        try:
            status, errors, entries, fault = parse_query_response(soap)
            parsed = (status, errors, fault)
        except (ValueError, etree.XMLSyntaxError):
            parsed = None
        self._raise_for_failure(response, parsed)
        return [e for e in entries if e.unique_id == unique_id]

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
        soap = self._soap(response)
        try:
            parsed: Parsed | None = parse_registry_response(soap)
        except (ValueError, etree.XMLSyntaxError):
            parsed = None
        self._raise_for_failure(response, parsed)
        assert parsed is not None  # an unreadable answer is a failure
        status, errors, _fault = parsed
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

    def _soap(self, response: httpx.Response) -> bytes:
        content = response.content[:MAX_RESPONSE_BYTES]
        try:
            return soap_from_response(content, response.headers.get("Content-Type", ""))
        except ValueError:
            return content

    def _raise_for_failure(self, response: httpx.Response, parsed: Parsed | None) -> None:
        failure = soap_failure(
            response.status_code, response.content[:MAX_RESPONSE_BYTES], parsed,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            transient_codes=UPDATE_TRANSIENT_CODES,
            transient_text="Le DMP n'a pas pu appliquer la mise à jour",
            refused_text="Le DMP a refusé la mise à jour des métadonnées.",
            unreadable_text="Réponse du DMP illisible ; nouvel essai prévu.")
        if failure is not None:
            raise failure


def valuesets_lookup_confidentiality(code: str) -> CodedValue:
    """A JDV_J08 confidentiality code as a CodedValue (UnknownCode if it is not in the value set)."""
    from dcc import valuesets
    from dcc.adapters.national_record.metadata import VS_CONFIDENTIALITY

    found = valuesets.lookup(VS_CONFIDENTIALITY, code, field="confidentialityCode")
    return CodedValue(found.code, found.system, found.display)
