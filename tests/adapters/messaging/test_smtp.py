"""MSSanté by SMTP against a local aiosmtpd server: subject convention, attachments, XDM content, errors."""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
import socket
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from lxml import etree

from dcc.adapters.cda.builder import build_frcp, build_pps
from dcc.adapters.messaging import MssanteCorrespondents, MssanteMailer, recipients_from_cda, xdm_subject
from dcc.adapters.messaging.smtp import pdf_filename
from dcc.bench.samples import sample_frcp, sample_pps
from dcc.domain.ports import Submission
from dcc.errors import DeliveryError

NS = {"rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"}
UNIQUE_ID_SCHEME = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
PDF = b"%PDF-1.7\n% rendu de test\n%%EOF\n"
SENDER = "rcp-3c-angers@chu-angers.mssante.fr"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class Handler:
    """Accepts everything, except addresses starting with `inconnu` (550) or `occupe` (450)."""

    messages: list[Received] = field(default_factory=list)
    data_reply: str = "250 2.0.0 Message accepté"
    peers: list[Any] = field(default_factory=list)  # the client address of each accepted mail's session

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address.startswith("inconnu"):
            return "550 5.1.1 Destinataire inconnu"
        if address.startswith("occupe"):
            return "450 4.2.1 Boîte momentanément indisponible"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.data_reply.startswith("250"):
            return self.data_reply
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        self.peers.append(session.peer)
        return self.data_reply


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def smtp_server() -> Iterator[tuple[Controller, Handler]]:
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), enable_SMTPUTF8=True)
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


@pytest.fixture()
def mailer(smtp_server: tuple[Controller, Handler]) -> MssanteMailer:
    controller, _ = smtp_server
    return MssanteMailer(controller.hostname, controller.port, SENDER, timeout=5.0)


def _parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _attachments(message: EmailMessage) -> dict[str, EmailMessage]:
    return {str(part.get_filename()): part for part in message.iter_attachments()}  # type: ignore[misc]


def test_subject_convention() -> None:
    subject = xdm_subject("CR de réunion de concertation pluridisciplinaire", "Pat-Trois", "Dominique",
                          date(1979, 3, 28))
    assert subject == "XDM/1.0/DDM+CR de reunion de concertation pluridisci PAT-TROIS Dominique 28/03/1979"
    assert xdm_subject("Plan personnalisé de soins", "Élise", "Anaïs", None) == (
        "XDM/1.0/DDM+Plan personnalise de soins ELISE Anais"
    )
    assert pdf_filename("Plan personnalisé de soins", "Dupont", "Anaïs", date(2024, 5, 31)) == (
        "20240531_Plan personnalise de soins_DUPONT_ANAIS.pdf"
    )


def test_correspondents_receive_the_xdm_zip_and_the_pdf(
    smtp_server: tuple[Controller, Handler], mailer: MssanteMailer
) -> None:
    _, handler = smtp_server
    cda = build_frcp(sample_frcp())
    unique_id = etree.fromstring(cda).find("{urn:hl7-org:v3}id").get("root")  # type: ignore[union-attr]
    recipients = [addr for addr, _ in recipients_from_cda(cda)]
    assert recipients  # the GP (INF) and the correspondents (CON) with their mailto: telecom

    outcome = MssanteCorrespondents(mailer).submit(
        Submission(unique_id=str(unique_id), cda=cda, pdf=PDF, kind="FRCP")
    )
    assert outcome.status_code == 250 and "Envoyé à" in outcome.excerpt

    [received] = handler.messages
    assert received.mail_from == SENDER
    assert received.rcpt_tos == recipients
    message = _parse(received.content)
    assert message["Subject"] == (
        "XDM/1.0/DDM+CR de reunion de concertation pluridisci PAT-TROIS DOMINIQUE 28/03/1979"
    )
    assert message["From"] == SENDER
    assert message["Message-ID"] and message["Date"]
    assert message["X-MSS-MES"] is None  # professionals may answer
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and "IHE_XDM.ZIP" in body.get_content()

    attachments = _attachments(message)
    pdf_name = "20240218_CR de reunion de concertation pluridisci_PAT-TROIS_DOMINIQUE.pdf"
    assert set(attachments) == {"IHE_XDM.ZIP", pdf_name}
    assert attachments["IHE_XDM.ZIP"].get_content_type() == "application/zip"
    pdf_part = next(p for name, p in attachments.items() if name.endswith(".pdf"))
    assert pdf_part.get_content_type() == "application/pdf" and pdf_part.get_content() == PDF

    archive = zipfile.ZipFile(io.BytesIO(attachments["IHE_XDM.ZIP"].get_content()))
    assert {"README.TXT", "INDEX.HTM", "IHE_XDM/SUBSET01/METADATA.XML"} <= set(archive.namelist())
    metadata = etree.fromstring(archive.read("IHE_XDM/SUBSET01/METADATA.XML"))
    [doc_entry] = [
        o for o in metadata.iterfind(".//rim:ExtrinsicObject", NS)
        if any(e.get("identificationScheme") == UNIQUE_ID_SCHEME and e.get("value") == unique_id
               for e in o.findall("rim:ExternalIdentifier", NS))
    ]
    slots = {
        s.get("name"): s.findtext("rim:ValueList/rim:Value", namespaces=NS) for s in doc_entry.findall("rim:Slot", NS)
    }
    cda_in_zip = archive.read(f"IHE_XDM/SUBSET01/{slots['URI']}")
    assert cda_in_zip == cda
    assert slots["hash"] == hashlib.sha1(cda_in_zip).hexdigest() and slots["size"] == str(len(cda_in_zip))
    assert archive.read("IHE_XDM/SUBSET01/DOC00002.PDF") == PDF
    recipients_slot = [
        v.text for v in metadata.iterfind(".//rim:Slot[@name='intendedRecipient']/rim:ValueList/rim:Value", NS)
    ]
    assert [r.rsplit("^", 1)[1] for r in recipients_slot] == recipients  # type: ignore[union-attr]


def test_pps_goes_to_the_gp_and_the_care_team(smtp_server: tuple[Controller, Handler], mailer: MssanteMailer) -> None:
    _, handler = smtp_server
    cda = build_pps(sample_pps())
    MssanteCorrespondents(mailer).submit(Submission(unique_id="u", cda=cda, pdf=PDF, kind="PPS"))
    [received] = handler.messages
    assert received.rcpt_tos == [addr for addr, _ in recipients_from_cda(cda)]
    assert _parse(received.content)["Subject"].startswith("XDM/1.0/DDM+Plan personnalise de soins PAT-TROIS")


def test_mail_to_a_patient_says_no_reply(smtp_server: tuple[Controller, Handler], mailer: MssanteMailer) -> None:
    _, handler = smtp_server
    mailer.send(["279035121518989@patient.mssante.fr"], subject="XDM/1.0/DDM+x", xdm_zip=b"PK", pdf=None,
                body_text="Bonjour")
    assert _parse(handler.messages[0].content)["X-MSS-MES"] == "FIN"


def test_refused_recipient_is_permanent_but_the_others_are_served(
    smtp_server: tuple[Controller, Handler], mailer: MssanteMailer
) -> None:
    _, handler = smtp_server
    with pytest.raises(DeliveryError) as caught:
        mailer.send(["gp@cabinet.mssante.fr", "inconnu@cabinet.mssante.fr"], subject="s", xdm_zip=b"PK",
                    pdf=PDF, body_text="b")
    assert caught.value.permanent and caught.value.status == 550
    assert "inconnu@cabinet.mssante.fr" in caught.value.message
    assert [m.rcpt_tos for m in handler.messages] == [["gp@cabinet.mssante.fr"]]


def test_all_recipients_refused(smtp_server: tuple[Controller, Handler], mailer: MssanteMailer) -> None:
    _, handler = smtp_server
    with pytest.raises(DeliveryError) as caught:
        mailer.send(["inconnu@x.mssante.fr"], subject="s", xdm_zip=b"PK", pdf=None, body_text="b")
    assert caught.value.permanent and caught.value.error_code == "destinataire_refuse"
    with pytest.raises(DeliveryError) as caught:
        mailer.send(["occupe@x.mssante.fr"], subject="s", xdm_zip=b"PK", pdf=None, body_text="b")
    assert not caught.value.permanent and caught.value.status == 450
    assert handler.messages == []


@pytest.mark.parametrize(("reply", "permanent"), [("554 5.6.0 Contenu refusé", True), ("451 4.3.0 Réessayez", False)])
def test_data_replies(
    smtp_server: tuple[Controller, Handler], mailer: MssanteMailer, reply: str, permanent: bool
) -> None:
    _, handler = smtp_server
    handler.data_reply = reply
    with pytest.raises(DeliveryError) as caught:
        mailer.send(["gp@cabinet.mssante.fr"], subject="s", xdm_zip=b"PK", pdf=None, body_text="b")
    assert caught.value.permanent is permanent and caught.value.status == int(reply[:3])


def test_a_kept_session_carries_several_mails_and_is_replaced_after_an_error(
    smtp_server: tuple[Controller, Handler]
) -> None:
    controller, handler = smtp_server
    mailer = MssanteMailer(controller.hostname, controller.port, SENDER, timeout=5.0, keep_alive=True)
    for i in range(3):
        mailer.send([f"gp{i}@cabinet.mssante.fr"], subject="s", xdm_zip=b"PK", pdf=None, body_text="b")
    assert len(handler.messages) == 3 and len(set(handler.peers)) == 1  # one session for the three
    with pytest.raises(DeliveryError):  # a refusal closes the session: the next mail opens another
        mailer.send(["inconnu@x.mssante.fr"], subject="s", xdm_zip=b"PK", pdf=None, body_text="b")
    mailer.send(["gp@cabinet.mssante.fr"], subject="s", xdm_zip=b"PK", pdf=None, body_text="b")
    assert len(set(handler.peers)) == 2 and [m.rcpt_tos for m in handler.messages][-1] == ["gp@cabinet.mssante.fr"]
    mailer.close()
    mailer.close()  # idempotent
    without = MssanteMailer(controller.hostname, controller.port, SENDER, timeout=5.0)
    for _ in range(2):
        without.send(["gp@cabinet.mssante.fr"], subject="s", xdm_zip=b"PK", pdf=None, body_text="b")
    assert len(set(handler.peers)) == 4  # without keep_alive: one session per mail


def test_a_kept_session_the_relay_closed_is_replaced_before_the_next_mail(
    smtp_server: tuple[Controller, Handler]
) -> None:
    controller, handler = smtp_server
    mailer = MssanteMailer(controller.hostname, controller.port, SENDER, timeout=5.0, keep_alive=True)
    mailer.send(["gp@cabinet.mssante.fr"], subject="s", xdm_zip=b"PK", pdf=None, body_text="b")
    assert mailer._session is not None
    mailer._session.sock.shutdown(socket.SHUT_RDWR)  # as a relay's idle timeout would end it
    mailer.send(["gp2@cabinet.mssante.fr"], subject="s", xdm_zip=b"PK", pdf=None, body_text="b")
    assert [m.rcpt_tos for m in handler.messages] == [["gp@cabinet.mssante.fr"], ["gp2@cabinet.mssante.fr"]]
    assert len(set(handler.peers)) == 2
    mailer.close()


def test_connection_refused_is_transient() -> None:
    mailer = MssanteMailer("127.0.0.1", _free_port(), SENDER, timeout=2.0)
    with pytest.raises(DeliveryError) as caught:
        mailer.send(["gp@cabinet.mssante.fr"], subject="s", xdm_zip=b"PK", pdf=None, body_text="b")
    assert not caught.value.permanent and caught.value.error_code == "smtp_connexion"


def test_document_without_recipients_sends_nothing(
    smtp_server: tuple[Controller, Handler], mailer: MssanteMailer
) -> None:
    _, handler = smtp_server
    cda = build_pps(sample_pps(referring_gp=None, care_team=()))
    outcome = MssanteCorrespondents(mailer).submit(Submission(unique_id="u", cda=cda, pdf=PDF, kind="PPS"))
    assert outcome.status_code is None and "Aucun destinataire" in outcome.excerpt
    assert handler.messages == []
