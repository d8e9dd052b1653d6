"""A case attachment (PDF or JPEG) as an unstructured CDA R2 document, level N1 of the CI-SIS.

The model is the agency's generic one, "Structuration minimale des documents de santé" (templateId
1.2.250.1.213.1.1.1.1) with a non-structured body: its schematron (the kit's
`profils/structurationMinimale/include/1.2.250.1.213.1.1.1.1-2017-12-13T103531.sch`) requires, for a
`nonXMLBody`, exactly the three templateIds 2.16.840.1.113883.2.8.2.1, 1.2.250.1.213.1.1.1.1 and
1.3.6.1.4.1.19376.1.2.20 (IHE XDS-SD), the latter replacing the volet's templateId. The body is the file,
base64, with its media type (`nonXMLBody/text/@mediaType`, from which the XDS formatCode is derived: ASS_A12).

The document states only what a person entered or decided:
- type (`code`): the JDV_J07 type the attachment's kind stands for, as the physician confirmed it;
- title: the attachment's title as entered;
- author and legal authenticator: the physician who shares, at the moment of sharing (`effectiveTime`);
- the event documented (`serviceEvent`, mandatory in the generic model with a time and a performer): the
  sharing itself, by that physician at that time; nothing is said of the act the file reports;
- patient identity: as for the Fiche RCP and the PPS (`builder._record_target`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from dcc.adapters.cda.builder import (
    NS,
    ROOT_DSRC,
    ROOT_GESTIONNAIRE,
    ROOT_RCP,
    TPL_CISIS,
    TPL_HL7_FR,
    _assigned_entity,
    _author,
    _code,
    _custodian,
    _facility,
    _ii,
    _legal_authenticator,
    _record_target,
    _root_element,
    _s,
    _serialize,
    _ts,
    _vs,
)
from dcc.domain.documents import Board, Code, DocumentIds, Organization, Patient, Professional
from dcc.errors import IncompleteData, ValidationFailed

TPL_XDS_SD = "1.3.6.1.4.1.19376.1.2.20"  # IHE XDS-SD: replaces the volet's templateId in an N1 document

# Media types of a non-structured body dcc produces (TRE_R222-MediaTypeCorpsCDANonStructure lists them;
# the attachments accept only these two, checked by content on upload).
MEDIA_TYPES = ("application/pdf", "image/jpeg")


@dataclass(frozen=True)
class N1Content:
    ids: DocumentIds
    type_code: Code  # JDV_J07_XdsTypeCode_CISIS
    title: str
    shared_at: datetime  # timezone-aware: when the physician shared it (author/time, legalAuthenticator/time)
    patient: Patient
    sharer: Professional  # the physician who shares: author and legal authenticator
    custodian: Organization
    board: Board
    media_type: str
    data: bytes


def build_n1(c: N1Content) -> bytes:
    """The attachment as an N1 CDA document (UTF-8 XML with declaration)."""
    missing = []
    if not (c.patient.ins_qualified or (c.patient.ipp and c.patient.ipp_oid)):
        missing.append("identifiant du patient (INS qualifiée ou IPP)")
    if not c.title.strip():
        missing.append("titre")
    if not c.data:
        missing.append("contenu du fichier")
    if missing:
        raise IncompleteData(missing, what="le document partagé")
    if c.media_type not in MEDIA_TYPES:
        raise ValidationFailed(f"Type de fichier « {c.media_type} » non pris en charge pour le DMP.", field="file")
    doc = _root_element()
    _s(doc, "realmCode", code="FR")
    _s(doc, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    _s(doc, "templateId", root=TPL_HL7_FR)
    _s(doc, "templateId", root=TPL_CISIS)
    _s(doc, "templateId", root=TPL_XDS_SD)
    _ii(doc, "id", c.ids.unique_id_root)
    _code(doc, "code", _vs("JDV_J07_XdsTypeCode_CISIS", c.type_code, "type_document"))
    _s(doc, "title", c.title.strip())
    _s(doc, "effectiveTime", value=_ts(c.shared_at))
    _code(doc, "confidentialityCode", _vs("JDV_J08_XdsConfidentialityCode_CISIS", "N", "confidentialite"))
    _s(doc, "languageCode", code="fr-FR")
    _ii(doc, "setId", c.ids.set_id_root)
    _s(doc, "versionNumber", value=str(c.ids.version))
    _record_target(doc, c.patient)
    _author(doc, c.sharer, c.shared_at)
    _custodian(doc, c.custodian)
    _legal_authenticator(doc, c.sharer, c.shared_at)
    # The generic model makes the documented act mandatory, with a start time and a performer whose
    # organization has a practice setting (structuration minimale, CI-SISDocumentationOf). The one act dcc knows
    # for this document is its sharing: by the physician, at that time, in their organization. The act reported
    # by the file itself (the biopsy, the scan) is not entered in dcc and is not stated.
    event = _s(_s(doc, "documentationOf"), "serviceEvent", classCode="ACT")
    _s(_s(event, "effectiveTime"), "low", value=_ts(c.shared_at))
    _assigned_entity(_s(event, "performer", typeCode="PRF"), c.sharer)
    enc = _s(_s(doc, "componentOf"), "encompassingEncounter")
    _s(enc, "id", root=ROOT_DSRC, extension=c.board.dsrc_id)
    _s(enc, "id", root=ROOT_GESTIONNAIRE, extension=c.board.gestionnaire_id)
    _s(enc, "id", root=ROOT_RCP, extension=c.board.rcp_id)
    _s(enc, "effectiveTime", nullFlavor="UNK")
    _facility(enc, c.board.facility, c.board.facility_type)
    body = _s(_s(doc, "component"), "nonXMLBody")
    text = _s(body, "text", mediaType=c.media_type, representation="B64")
    text.text = base64.b64encode(c.data).decode("ascii")
    return _serialize(doc)


def n1_body(cda: bytes) -> tuple[str, bytes] | None:
    """(media type, file bytes) of an N1 document's non-structured body; None for a structured document."""
    root = etree.fromstring(cda, parser=etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    text = root.find(f"{{{NS}}}component/{{{NS}}}nonXMLBody/{{{NS}}}text")
    if text is None:
        return None
    return text.get("mediaType", ""), base64.b64decode(text.text or "")
