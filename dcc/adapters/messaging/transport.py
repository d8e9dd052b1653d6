"""Transport port for the correspondents: who receives a signed document by MSSanté, and the sending.

Who receives what (INCa: the RCP report goes to the GP and the correspondents, the requester being responsible
for the file; the PPS is handed to the patient — GEN-178 "Date de remise du document au patient" — and shared
with the care team). Both documents also go to the DMP (dcc.services.documents.destinations_for). By MSSanté:
- Fiche RCP (LOINC 34794-8): the GP (`participant[@typeCode='INF']`, functionCode PCP), the requesting
  physician (`REFB`) and the correspondents named (`CON`, CORRE);
- PPS (LOINC 18776-5): the GP (`INF`) and the care team (`CON`, CORRE: the professionals named in the plan);
- never the document's own author or legal authenticator (matched by idNat_PS or MSSanté address): they wrote
  and signed it; never the patient (only `associatedEntity[@classCode='PROV']`, health professionals): the PPS
  is handed over, not mailed.
All of these participants are allowed by the CANCER-FRCP / CANCER-PPS models (typeCode from JDV_J144; the kit's
examples carry REFB on the FRCP and INF + CON/CORRE on the PPS). Recipients are read from the signed CDA itself
(what the document says is who receives it): each participant's `associatedEntity/telecom` `mailto:` address, as
dcc.adapters.cda.builder writes it from Professional.mssante. One mail per document to all recipients (one
patient per mail), with IHE_XDM.ZIP and the PDF.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from lxml import etree

from dcc.adapters.messaging.smtp import MssanteMailer, ascii_fold, pdf_filename, xdm_subject
from dcc.adapters.messaging.xdm import build_xdm_zip, intended_recipient
from dcc.adapters.national_record.metadata import NS, entry_from_cda, parse_cda, xcn
from dcc.domain.identifiers import PS_ID_OID
from dcc.domain.ports import Submission, SubmitOutcome
from dcc.errors import DeliveryError, ValidationFailed

DOC_CODE_FRCP = "34794-8"  # LOINC, CR de RCP (CANCER-FRCP_2022.01)
DOC_CODE_PPS = "18776-5"  # LOINC, Plan personnalisé de soins (CANCER-PPS_2022.01)
RECIPIENT_TYPES: dict[str, tuple[str, ...]] = {
    DOC_CODE_FRCP: ("INF", "REFB", "CON"),  # GP, requesting physician, correspondents
    DOC_CODE_PPS: ("INF", "CON"),  # GP, care team
}
DEFAULT_RECIPIENT_TYPES = ("INF", "CON")


def _mailto(entity: etree._Element) -> list[str]:
    out = []
    for telecom in entity.findall("h:telecom", NS):
        value = (telecom.get("value") or "").strip()
        if value.lower().startswith("mailto:") and value[len("mailto:"):].strip():
            out.append(value[len("mailto:"):].strip())
    return out


def _ps_id(entity: etree._Element) -> str:
    id_el = entity.find(f"h:id[@root='{PS_ID_OID}']", NS)
    return str(id_el.get("extension") or "") if id_el is not None else ""


def _authors(root: etree._Element) -> tuple[set[str], set[str]]:
    """idNat_PS and MSSanté addresses (lower case) of the document's authors and legal authenticator."""
    ids: set[str] = set()
    addresses: set[str] = set()
    for entity in root.xpath("h:author/h:assignedAuthor | h:legalAuthenticator/h:assignedEntity", namespaces=NS):
        if _ps_id(entity):
            ids.add(_ps_id(entity))
        addresses.update(a.lower() for a in _mailto(entity))
    return ids, addresses


def recipients_from_cda(cda: bytes) -> list[tuple[str, str]]:
    """(MSSanté address, XCN) of the document's recipients by the rule above (participants of the types
    its kind sends to, health professionals only, never its author or signer), in document order, without
    duplicates."""
    root = parse_cda(cda)
    code = root.find("h:code", NS)
    types = RECIPIENT_TYPES.get(code.get("code", "") if code is not None else "", DEFAULT_RECIPIENT_TYPES)
    author_ids, author_addresses = _authors(root)
    out: list[tuple[str, str]] = []
    seen: set[str] = set(author_addresses)
    for participant in root.xpath("h:participant", namespaces=NS):
        if participant.get("typeCode") not in types:
            continue
        entity = participant.find("h:associatedEntity", NS)
        if entity is None or entity.get("classCode") != "PROV":
            continue
        if _ps_id(entity) and _ps_id(entity) in author_ids:
            continue
        person_xcn = ""
        id_el = entity.find(f"h:id[@root='{PS_ID_OID}']", NS)
        family = entity.findtext("h:associatedPerson/h:name/h:family", "", NS).strip()
        given = entity.findtext("h:associatedPerson/h:name/h:given", "", NS).strip()
        if id_el is not None and id_el.get("extension") and family:
            person_xcn = xcn(str(id_el.get("extension")), family, given)
        for address in _mailto(entity):
            if address.lower() not in seen:
                seen.add(address.lower())
                out.append((address, person_xcn))
    return out


def _patient(root: etree._Element) -> tuple[str, str, date | None]:
    """Birth family name, first given name and birth date of the recordTarget."""
    patient = root.find("h:recordTarget/h:patientRole/h:patient", NS)
    if patient is None:
        return "", "", None

    def name(tag: str) -> str:
        for path in (f"h:name/h:{tag}[@qualifier='BR']", f"h:name/h:{tag}"):
            found = patient.findtext(path, "", NS).strip()
            if found:
                return found
        return ""

    birth = (patient.find("h:birthTime", NS).get("value") or "") if patient.find("h:birthTime", NS) is not None else ""
    try:
        born = datetime.strptime(birth[:8], "%Y%m%d").date() if len(birth) >= 8 else None
    except ValueError:
        born = None
    return name("family"), name("given").split(" ")[0], born


def _label(root: etree._Element) -> str:
    code = root.find("h:code", NS)
    display = code.get("displayName", "") if code is not None else ""
    return display or root.findtext("h:title", "", NS).strip() or "Document"


def _document_date(root: etree._Element) -> date | None:
    value = root.find("h:effectiveTime", NS)
    raw = (value.get("value") or "") if value is not None else ""
    try:
        return datetime.strptime(raw[:8], "%Y%m%d").date() if len(raw) >= 8 else None
    except ValueError:
        return None


def body_text(label: str, family: str, given: str, born: date | None) -> str:
    birth = f", né(e) le {born.strftime('%d/%m/%Y')}" if born else ""
    return (
        "Bonjour,\r\n\r\n"
        f"Veuillez trouver ci-joint le document « {label} » concernant {given} {family.upper()}{birth}.\r\n\r\n"
        "Pièces jointes :\r\n"
        "- IHE_XDM.ZIP : le document structuré (CDA) et ses métadonnées, intégrables dans votre logiciel ;\r\n"
        "- le même document au format PDF.\r\n\r\n"
        "Ce message vous est adressé en tant que médecin traitant, médecin demandeur ou correspondant désigné "
        "dans le document.\r\n"
        "Envoi automatique par dcc (Dossier Communicant de Cancérologie).\r\n"
    )


class MssanteCorrespondents:
    """Transport port: sends each signed document to its GP and correspondents by MSSanté (SMTP)."""

    def __init__(self, mailer: MssanteMailer, *, read_receipt: bool = False) -> None:
        self.mailer = mailer
        self.read_receipt = read_receipt

    def close(self) -> None:
        """End the mailer's kept SMTP session (the dispatcher closes its transports after its run)."""
        self.mailer.close()

    def submit(self, submission: Submission) -> SubmitOutcome:
        try:
            root = parse_cda(submission.cda)
            # The CDA's own confidentiality only: DMP flags (INVISIBLE_PATIENT, MASQUE_PS) do not apply.
            entry = entry_from_cda(submission.cda)
        except ValidationFailed as exc:
            raise DeliveryError(
                f"Métadonnées XDM impossibles à produire : {exc.message}",
                permanent=True,
                error_code="metadonnees_invalides",
            ) from exc
        recipients = recipients_from_cda(submission.cda)
        if not recipients:
            return SubmitOutcome(
                status_code=None,
                excerpt="Aucun destinataire MSSanté (médecin traitant ou correspondant avec une adresse "
                "MSSanté) dans le document : rien à envoyer.",
            )
        family, given, born = _patient(root)
        label = _label(root)
        # Stable per document: a retry carries the same SubmissionSet uniqueId.
        ss_unique_id = f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, 'dcc:xdm:' + submission.unique_id).int}"
        xdm = build_xdm_zip(
            submission.cda,
            submission.pdf or None,
            entry,
            submission_set_id=ss_unique_id,
            intended_recipients=[intended_recipient(addr, person) for addr, person in recipients],
        )
        to = [addr for addr, _ in recipients]
        result = self.mailer.send(
            to,
            subject=xdm_subject(label, family, given, born),
            xdm_zip=xdm,
            pdf=submission.pdf or None,
            body_text=body_text(label, family, given, born),
            pdf_name=pdf_filename(label, family, given, _document_date(root)),
            read_receipt=self.read_receipt,
        )
        return SubmitOutcome(
            status_code=result.status_code,
            excerpt=f"Envoyé à {', '.join(result.accepted)} : {result.status_code} {ascii_fold(result.reply)}"[:500],
        )
