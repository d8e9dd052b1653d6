"""IHE XDS.b ITI-41 Provide and Register Document Set-b for the DMP: SOAP 1.2 + MTOM/XOP over HTTP.

- `build_envelope` builds the SOAP envelope with lxml: WS-Addressing headers, the VIHF (a SAML 2
  assertion signed with the sending structure's key, enveloped XML-DSig via signxml) in
  `wsse:Security`, and the ebRIM 3.0 SubmitObjectsRequest (DocumentEntry, SubmissionSet, HasMember,
  optional RPLC association), with the submission set's XAdES signature document (dsg) as a second
  member of the set.
- `pack_mtom` writes the `multipart/related; type="application/xop+xml"` body byte for byte (the
  stdlib email generator rewrites bare LF as CRLF inside binary parts, which would change the
  document's hash, so the body is written by hand; the receiving side parses it with `email`).
- `XdsTransport.submit` posts it with httpx and maps the RegistryResponse to a `SubmitResult` or
  a `DeliveryError` (permanent for metadata errors, transient for 5xx / 429 / network errors).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
from lxml import etree

from dcc.adapters.national_record.dsg import sign_submission_set, signature_entry
from dcc.adapters.national_record.ebrim import (
    ACTION_ITI41,
    ASSOC_HAS_MEMBER,
    ASSOC_RPLC,
    LCM,
    RIM,
    SOAP,
    WSA,
    XDSB,
    XOP,
    _new_id,
    _q,
    _soap_envelope,
    add_association,
    add_document_entry,
    add_submission_set,
    entry_uuid_for,
    new_oid,
)
from dcc.adapters.national_record.metadata import DocumentEntry, check_codes
from dcc.adapters.national_record.mtom import pack_mtom, soap_from_response
from dcc.adapters.national_record.responses import (
    MAX_RESPONSE_BYTES,
    TRANSIENT_CODES,
    HttpClientOwner,
    RegistryError,
    SubmitResult,
    _excerpt,
    parse_registry_response,
    parse_retry_after,
    soap_failure,
)
from dcc.adapters.national_record.vihf import SenderIdentity, build_vihf
from dcc.errors import DeliveryError


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
    signature: tuple[DocumentEntry, str] | None = None,
) -> etree._Element:
    """The SOAP 1.2 envelope of the ProvideAndRegisterDocumentSetRequest (document as xop:Include).
    `signature`: the DocumentEntry and Content-ID of the submission set's signature document (dsg), a
    member of the same set."""
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
        if not replaced_entry_uuid:
            raise ValueError("RPLC: the replaced entry's entryUUID must come from the registry (ITI-18)")
        add_association(objects, ASSOC_RPLC, doc_id, replaced_entry_uuid)

    sig_id = ""
    if signature is not None:
        sig_id = _new_id()
        add_document_entry(objects, signature[0], entry_id=sig_id)
        add_association(objects, ASSOC_HAS_MEMBER, ss_id, sig_id, SubmissionSetStatus="Original")

    document = etree.SubElement(request, _q(XDSB, "Document"), id=doc_id)
    etree.SubElement(document, _q(XOP, "Include"), href=f"cid:{document_cid}")
    if signature is not None:
        sig_document = etree.SubElement(request, _q(XDSB, "Document"), id=sig_id)
        etree.SubElement(sig_document, _q(XOP, "Include"), href=f"cid:{signature[1]}")
    return envelope


def submission_signature(identity: SenderIdentity, cda: bytes, entry: DocumentEntry,
                         ) -> tuple[DocumentEntry, bytes, str]:
    """The submission set's XAdES signature document over `cda` (TD2): its DocumentEntry, bytes and a fresh
    Content-ID."""
    signature = sign_submission_set(identity, [(entry.unique_id, cda)])
    return signature_entry(entry, signature), signature, f"sig.{uuid.uuid4().hex}@dcc"


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
    sig_entry, sig_bytes, sig_cid = submission_signature(identity, cda, entry)
    envelope = build_envelope(
        entry,
        identity=identity,
        endpoint=endpoint,
        document_cid=document_cid,
        message_id=message_id,
        submission_set_unique_id=ss_unique_id,
        replaced_entry_uuid=replaced_entry_uuid,
        signature=(sig_entry, sig_cid),
    )
    soap = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    body, content_type = pack_mtom(soap, cda, document_cid=document_cid, mime_type=entry.mime_type,
                                   extra=[(sig_cid, sig_bytes, sig_entry.mime_type)])
    return Submission(
        body=body,
        content_type=content_type,
        message_id=message_id,
        entry_uuid=entry_uuid_for(entry.unique_id),
        submission_set_unique_id=ss_unique_id,
        document_cid=document_cid,
    )



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

        Safe to retry with the same bytes: the registry keys documents by uniqueId.

        A replacement (`entry.replaces`) needs `replaced_entry_uuid`, the entryUUID the registry gives the
        replaced document (ITI-18, see XdsMetadataUpdater.replacement_target), never one computed here."""
        if entry.replaces and not replaced_entry_uuid:
            raise DeliveryError(
                "Remplacement impossible : l'identifiant DMP (entryUUID) du document remplacé n'a pas été obtenu "
                "du DMP.", permanent=True, error_code="cible_remplacement_inconnue")
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

        failure = soap_failure(status, content, parsed, retry_after=retry_after, transient_codes=TRANSIENT_CODES,
                               transient_text="Le DMP est momentanément indisponible",
                               refused_text="Le DMP a refusé le document.",
                               unreadable_text="Réponse du DMP illisible ; le document sera renvoyé à l'identique.")
        if failure is not None:
            raise failure
        assert parsed is not None  # soap_failure returns an error for every unreadable answer
        registry_status, errors, _fault = parsed
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
