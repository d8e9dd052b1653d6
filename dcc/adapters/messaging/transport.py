"""Transport port for the correspondents: the referring GP and the correspondents named on the document.

Recipients come from the signed CDA itself (what the document says is who receives it):
`participant[@typeCode='INF']` (the referring GP, functionCode PCP) and `participant[@typeCode='CON']`
(correspondents, care team), each with its `associatedEntity/telecom` `mailto:` MSSanté address, as
dcc.adapters.cda.builder writes it from Professional.mssante. One mail per document to all recipients
(one patient per mail), with IHE_XDM.ZIP and the PDF.
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

RECIPIENT_TYPES = ("INF", "CON")


def recipients_from_cda(cda: bytes) -> list[tuple[str, str]]:
    """(MSSanté address, XCN) of the INF and CON participants, in document order, without duplicates."""
    root = parse_cda(cda)
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for participant in root.xpath("h:participant", namespaces=NS):
        if participant.get("typeCode") not in RECIPIENT_TYPES:
            continue
        entity = participant.find("h:associatedEntity", NS)
        if entity is None:
            continue
        person_xcn = ""
        id_el = entity.find(f"h:id[@root='{PS_ID_OID}']", NS)
        family = entity.findtext("h:associatedPerson/h:name/h:family", "", NS).strip()
        given = entity.findtext("h:associatedPerson/h:name/h:given", "", NS).strip()
        if id_el is not None and id_el.get("extension") and family:
            person_xcn = xcn(str(id_el.get("extension")), family, given)
        for telecom in entity.findall("h:telecom", NS):
            value = (telecom.get("value") or "").strip()
            if not value.lower().startswith("mailto:"):
                continue
            address = value[len("mailto:"):].strip()
            if address and address.lower() not in seen:
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
        "Ce message vous est adressé en tant que médecin traitant ou correspondant désigné dans le document.\r\n"
        "Envoi automatique par dcc (Dossier Communicant de Cancérologie).\r\n"
    )


class MssanteCorrespondents:
    """Transport port: sends each signed document to its GP and correspondents by MSSanté (SMTP)."""

    def __init__(self, mailer: MssanteMailer, *, read_receipt: bool = False) -> None:
        self.mailer = mailer
        self.read_receipt = read_receipt

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
