"""IHE XDM (ITI-32) media for MSSanté: the `IHE_XDM.ZIP` attached to a secure-messaging mail.

Layout (IHE ITI TF-1 §16 / TF-2b §3.32; CI-SIS "Échange de documents de santé"):

    README.TXT                      sending application and contact (IHE XDM)
    INDEX.HTM                       human-readable table of contents (IHE XDM)
    IHE_XDM/SUBSET01/METADATA.XML   ebRIM SubmitObjectsRequest: SubmissionSet + DocumentEntries
    IHE_XDM/SUBSET01/DOC00001.XML   the CDA (DocumentEntry with the CDA's own uniqueId, hash, size, URI)
    IHE_XDM/SUBSET01/DOC00002.PDF   the PDF rendering (its own DocumentEntry, formatCode xds-sd:pdf)

METADATA.XML is the same ebRIM as ITI-41 (built with the same pieces: `add_document_entry`,
`add_submission_set`), plus the XDM `URI` slot naming each file and the SubmissionSet's
`intendedRecipient`. The recipient identifies the patient by the DocumentEntry patientId (INS).

Conventions not verified against an ANS example [U]:
- the subset directory: IHE examples use `SUBSET01`; the ANS example (DRIM-M) uses `SS000001`;
- the PDF as a second DocumentEntry (uniqueId `2.25.<uuid5 of the CDA uniqueId>`) linked to the CDA by an
  XFRM association (the PDF is a rendering of the CDA);
- intendedRecipient as `|<XCN>|^^Internet^<address>` (XON empty).
Archives are deterministic: fixed member order and timestamps (the CDA's creationTime), so the same
inputs give the same bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import io
import uuid
import zipfile
from collections.abc import Sequence

from lxml import etree

from dcc.adapters.national_record.metadata import CodedValue, DocumentEntry
from dcc.adapters.national_record.xds import (
    ASSOC_HAS_MEMBER,
    LCM,
    RIM,
    add_association,
    add_document_entry,
    add_submission_set,
    entry_uuid_for,
)

SUBSET = "IHE_XDM/SUBSET01"
METADATA_PATH = f"{SUBSET}/METADATA.XML"
CDA_NAME = "DOC00001.XML"
PDF_NAME = "DOC00002.PDF"
ASSOC_XFRM = "urn:ihe:iti:2007:AssociationType:XFRM"
PDF_FORMAT = CodedValue("urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3", "PDF embedded in CDA")
APPLICATION = "dcc — Dossier Communicant de Cancérologie"


def pdf_unique_id(cda_unique_id: str) -> str:
    """The uniqueId given to the PDF rendering of a CDA in the XDM subset (stable per document)."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, 'dcc:pdf:' + cda_unique_id).int}"


def source_id_for(structure_id_nat: str) -> str:
    """SubmissionSet.sourceId: the same derivation as SenderIdentity.source_oid for the structure."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, 'dcc:' + structure_id_nat).int}"


def intended_recipient(address: str, xcn: str = "") -> str:
    """An XDM `intendedRecipient` value (XON|XCN|XTN) for an MSSanté address [U: ANS usage not checked]."""
    return f"|{xcn}|^^Internet^{address}"


def build_metadata(
    cda: bytes,
    pdf: bytes | None,
    entry: DocumentEntry,
    *,
    submission_set_id: str,
    source_id: str | None = None,
    submission_time: str | None = None,
    intended_recipients: Sequence[str] = (),
) -> bytes:
    """METADATA.XML: a SubmitObjectsRequest with the CDA's DocumentEntry (and the PDF's, if any)."""
    if not entry.describes(cda):
        raise ValueError("entry hash/size do not match the CDA")
    request = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap={"lcm": LCM, "rim": RIM})
    objects = etree.SubElement(request, f"{{{RIM}}}RegistryObjectList")
    cda_id = entry_uuid_for(entry.unique_id)
    add_document_entry(objects, entry, entry_id=cda_id, uri=CDA_NAME)
    pdf_id = None
    if pdf is not None:
        pdf_entry = dataclasses.replace(
            entry,
            unique_id=pdf_unique_id(entry.unique_id),
            mime_type="application/pdf",
            format_code=PDF_FORMAT,
            hash_sha1=hashlib.sha1(pdf).hexdigest(),
            size=len(pdf),
            replaces=None,
        )
        pdf_id = entry_uuid_for(pdf_entry.unique_id)
        add_document_entry(objects, pdf_entry, entry_id=pdf_id, uri=PDF_NAME)
    ss_id = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_OID, 'dcc:xdm-ss:' + submission_set_id)}"
    add_submission_set(
        objects,
        entry,
        ss_id=ss_id,
        unique_id=submission_set_id,
        source_id=source_id or source_id_for(entry.author_structure_id),
        submission_time=submission_time or entry.creation_time,
        intended_recipients=tuple(intended_recipients),
    )
    add_association(objects, ASSOC_HAS_MEMBER, ss_id, cda_id, SubmissionSetStatus="Original")
    if pdf_id is not None:
        add_association(objects, ASSOC_HAS_MEMBER, ss_id, pdf_id, SubmissionSetStatus="Original")
        add_association(objects, ASSOC_XFRM, pdf_id, cda_id)
    # The builders give classifications, identifiers and associations random ids (nothing refers to
    # them): renumber them from the submission set, so that the same inputs give the same bytes.
    for number, element in enumerate(
        objects.iter(f"{{{RIM}}}Classification", f"{{{RIM}}}ExternalIdentifier", f"{{{RIM}}}Association")
    ):
        element.set("id", f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_OID, f'dcc:xdm:{submission_set_id}:{number}')}")
    return bytes(etree.tostring(request, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _readme(entry: DocumentEntry) -> bytes:
    text = (
        f"{APPLICATION}\r\n"
        "Support d'échange IHE XDM (ITI-32) transmis par messagerie sécurisée de santé (MSSanté).\r\n"
        "\r\n"
        f"Document : {entry.title}\r\n"
        f"Identifiant du document (uniqueId) : {entry.unique_id}\r\n"
        f"Auteur : {entry.author_person.split('^')[2]} {entry.author_person.split('^')[1]}\r\n"
        "\r\n"
        "Contenu : INDEX.HTM (sommaire), IHE_XDM/SUBSET01/METADATA.XML (métadonnées XDS),\r\n"
        f"IHE_XDM/SUBSET01/{CDA_NAME} (document CDA structuré), IHE_XDM/SUBSET01/{PDF_NAME} (rendu PDF).\r\n"
        "\r\n"
        "Contact : l'équipe du réseau régional de cancérologie (DSRC) émettrice.\r\n"
    )
    return text.encode("utf-8")


def _index(entry: DocumentEntry, *, with_pdf: bool) -> bytes:
    title = html.escape(entry.title)
    items = [f'<li><a href="{SUBSET}/{CDA_NAME}">{title} (document CDA)</a></li>']
    if with_pdf:
        items.append(f'<li><a href="{SUBSET}/{PDF_NAME}">{title} (PDF)</a></li>')
    items.append(f'<li><a href="{METADATA_PATH}">Métadonnées (METADATA.XML)</a></li>')
    items.append('<li><a href="README.TXT">README.TXT</a></li>')
    page = (
        '<!DOCTYPE html>\r\n<html lang="fr"><head><meta charset="utf-8"/>'
        f"<title>{title}</title></head>\r\n<body>\r\n<h1>{title}</h1>\r\n"
        f"<p>{html.escape(APPLICATION)} — support IHE XDM.</p>\r\n<ul>\r\n"
        + "\r\n".join(items)
        + "\r\n</ul>\r\n</body></html>\r\n"
    )
    return page.encode("utf-8")


def _zip_time(entry: DocumentEntry) -> tuple[int, int, int, int, int, int]:
    digits = (entry.creation_time + "00000000000000")[:14]
    try:
        stamp = tuple(int(digits[i:j]) for i, j in ((0, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 14)))
    except ValueError:
        return (1980, 1, 1, 0, 0, 0)
    if stamp[0] < 1980 or not 1 <= stamp[1] <= 12 or not 1 <= stamp[2] <= 31:
        return (1980, 1, 1, 0, 0, 0)
    return stamp  # type: ignore[return-value]


def build_xdm_zip(
    cda: bytes,
    pdf: bytes | None,
    entry: DocumentEntry,
    *,
    submission_set_id: str,
    source_id: str | None = None,
    submission_time: str | None = None,
    intended_recipients: Sequence[str] = (),
) -> bytes:
    """The IHE_XDM.ZIP bytes for `cda` (described by `entry`, whose hash/size must match) and its PDF."""
    metadata = build_metadata(
        cda,
        pdf,
        entry,
        submission_set_id=submission_set_id,
        source_id=source_id,
        submission_time=submission_time,
        intended_recipients=intended_recipients,
    )
    members: list[tuple[str, bytes]] = [
        ("README.TXT", _readme(entry)),
        ("INDEX.HTM", _index(entry, with_pdf=pdf is not None)),
        (METADATA_PATH, metadata),
        (f"{SUBSET}/{CDA_NAME}", cda),
    ]
    if pdf is not None:
        members.append((f"{SUBSET}/{PDF_NAME}", pdf))
    when = _zip_time(entry)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=when)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()
