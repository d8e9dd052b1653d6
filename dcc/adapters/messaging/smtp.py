"""SMTP submission of MSSanté mails carrying an IHE_XDM.ZIP and the PDF rendering.

Conventions followed (sources: domain notes §7; CI-SIS "Transmission au LPS de documents CDA provenant
d'un courriel MSSanté", struct-email-standard; MSSanté référentiel socle #2 ECO.2.1.x as quoted second-hand):
- Subject `XDM/1.0/DDM+<libellé> <NOM> <prénom> <date de naissance>` [C: ANS examples]: the libellé is the
  displayName of the CDA `code` cut to 40 characters, NOM the birth name in capitals, date JJ/MM/AAAA;
  accents are removed from the whole subject [C second-hand: ECO.2.1.3 as quoted by a third-party
  client; the ANS example subjects are plain ASCII capitals].
- One patient per message; body = a human-readable text/plain part, then the `IHE_XDM.ZIP` attachment
  (application/zip) and the PDF (application/pdf), both base64 [C: ANS struct-email-standard example].
- PDF file name `<AAAAMMJJ>_<libellé>_<NOM>_<PRENOM>.pdf` [U: the ANS example is marked illustrative].
- `X-MSS-MES: FIN` (the sender does not expect replies) only on mails to patients' addresses
  (`…@patient.mssante.fr`) unless asked otherwise [C: domain notes §7, S4; U: use on mails to professionals].
- `Disposition-Notification-To` (read receipt, ACK_LECTURE_MSS) only when asked [U: not required].
- Message-ID, Date, MIME-Version per RFC 5322 (needed for threading, ECO.2.2.x as quoted second-hand).

Errors: 5xx replies and refused recipients are permanent, 4xx replies and connection problems transient.
The mail goes to the accepted recipients even when others are refused; the error then names both, and a
retry would send to all again (receivers deduplicate on the document uniqueId, domain notes §7).
"""

from __future__ import annotations

import smtplib
import ssl
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, make_msgid

from dcc.errors import DeliveryError

XDM_PREFIX = "XDM/1.0/DDM+"
LABEL_MAX = 40
PATIENT_DOMAIN = "patient.mssante.fr"
XDM_FILENAME = "IHE_XDM.ZIP"


def ascii_fold(text: str) -> str:
    """Text without accents (NFKD, combining marks dropped); other non-ASCII characters removed."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.encode("ascii", "ignore").decode("ascii").split())


def xdm_subject(label: str, family: str, given: str, birth_date: date | None) -> str:
    """`XDM/1.0/DDM+<libellé> <NOM> <prénom> <date de naissance>` (see the module docstring)."""
    parts = [ascii_fold(label)[:LABEL_MAX].rstrip(), ascii_fold(family).upper(), ascii_fold(given)]
    if birth_date is not None:
        parts.append(birth_date.strftime("%d/%m/%Y"))
    return XDM_PREFIX + " ".join(p for p in parts if p)


def pdf_filename(label: str, family: str, given: str, when: date | None) -> str:
    """`<AAAAMMJJ>_<libellé>_<NOM>_<PRENOM>.pdf`, ASCII, without path separators [U]."""
    pieces = [when.strftime("%Y%m%d")] if when else []
    pieces += [ascii_fold(label)[:LABEL_MAX].strip(), ascii_fold(family).upper(), ascii_fold(given).upper()]
    name = "_".join(p for p in pieces if p)
    return "".join(c for c in name if c not in '/\\:*?"<>|') + ".pdf"


@dataclass(frozen=True)
class SendResult:
    """What the SMTP server said: accepted and refused recipients, and its final reply to DATA."""

    message_id: str
    accepted: tuple[str, ...]
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    status_code: int = 250
    reply: str = ""


def _reply(value: bytes | str) -> str:
    return (value.decode("utf-8", "replace") if isinstance(value, bytes) else value)[:300]


class MssanteMailer:
    """Sends MSSanté mails through an SMTP relay (the MSSanté operator's, or a local one in tests).

    With `keep_alive`, mails go one after the other over one SMTP session (RSET between them; a session the
    relay closed meanwhile is replaced before MAIL FROM, when nothing of the mail was sent yet): a
    dispatcher no longer pays a connection, greeting, EHLO (and TLS) per mail. Any error closes the session
    (the next mail opens a new one); `close()` ends it."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
        keep_alive: bool = False,
    ) -> None:
        self.keep_alive = keep_alive
        self._session: smtplib.SMTP | None = None
        self._lock = threading.Lock()
        self.host = host
        self.port = port
        self.sender = sender
        self.starttls = starttls
        self.username = username
        self.password = password
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.local_hostname = local_hostname

    def build_message(
        self,
        to: list[str],
        *,
        subject: str,
        xdm_zip: bytes,
        pdf: bytes | None,
        body_text: str,
        pdf_name: str = "document.pdf",
        no_reply: bool | None = None,
        read_receipt: bool = False,
    ) -> EmailMessage:
        """The MIME message: text/plain body, then IHE_XDM.ZIP, then the PDF."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(to)
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        domain = self.sender.rpartition("@")[2] or "dcc.invalid"
        message["Message-ID"] = make_msgid(domain=domain)
        if no_reply is None:
            no_reply = any(addr.lower().endswith("@" + PATIENT_DOMAIN) for addr in to)
        if no_reply:
            message["X-MSS-MES"] = "FIN"
        if read_receipt:
            message["Disposition-Notification-To"] = self.sender
        message.set_content(body_text, subtype="plain", charset="utf-8", cte="quoted-printable")
        message.add_attachment(xdm_zip, maintype="application", subtype="zip", filename=XDM_FILENAME)
        if pdf is not None:
            message.add_attachment(pdf, maintype="application", subtype="pdf", filename=pdf_name)
        return message

    def send(
        self,
        to: list[str],
        *,
        subject: str,
        xdm_zip: bytes,
        pdf: bytes | None,
        body_text: str,
        pdf_name: str = "document.pdf",
        no_reply: bool | None = None,
        read_receipt: bool = False,
    ) -> SendResult:
        """Send one mail to `to`. Raises DeliveryError (permanent: 5xx, refused recipients; transient:
        4xx, connection errors, timeouts)."""
        if not to:
            raise DeliveryError("Aucun destinataire MSSanté.", permanent=True, error_code="aucun_destinataire")
        message = self.build_message(
            to,
            subject=subject,
            xdm_zip=xdm_zip,
            pdf=pdf,
            body_text=body_text,
            pdf_name=pdf_name,
            no_reply=no_reply,
            read_receipt=read_receipt,
        )
        utf8 = not all(addr.isascii() for addr in [self.sender, *to])
        payload = message.as_bytes(policy=SMTPUTF8 if utf8 else SMTP)
        try:
            return self._transaction(to, payload, str(message["Message-ID"]), utf8=utf8)
        except DeliveryError:
            raise
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(
                f"Le serveur MSSanté ne prend pas en charge une extension requise : {exc}",
                permanent=True,
                error_code="smtp_extension",
                excerpt=str(exc)[:300],
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise _from_code(exc.smtp_code, _reply(exc.smtp_error), "Le serveur MSSanté a refusé le message") from exc
        except (TimeoutError, smtplib.SMTPServerDisconnected, smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"Connexion au serveur MSSanté impossible ou interrompue ({type(exc).__name__}) ; nouvel essai prévu.",
                permanent=False,
                error_code="smtp_connexion",
                excerpt=str(exc)[:300],
            ) from exc

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname)
        try:
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            _quietly_close(smtp)
            raise
        return smtp

    def _reused(self) -> smtplib.SMTP | None:
        """The kept session if the relay still answers RSET (nothing of the next mail sent yet), else None."""
        smtp, self._session = self._session, None
        if smtp is None:
            return None
        try:
            code, _ = smtp.rset()
        except (smtplib.SMTPException, OSError):
            code = 0
        if code == 250:
            return smtp
        _quietly_close(smtp)
        return None

    def close(self) -> None:
        """End the kept SMTP session, if any (QUIT)."""
        with self._lock:
            smtp, self._session = self._session, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                _quietly_close(smtp)

    def _transaction(self, to: list[str], payload: bytes, message_id: str, *, utf8: bool) -> SendResult:
        if not self.keep_alive:
            with self._connect() as smtp:
                return self._mail(smtp, to, payload, message_id, utf8=utf8)
        with self._lock:
            smtp = self._reused() or self._connect()
            try:
                result = self._mail(smtp, to, payload, message_id, utf8=utf8)
            except BaseException:
                _quietly_close(smtp)  # whatever the error, the next mail starts a new session
                raise
            self._session = smtp
            return result

    def _mail(self, smtp: smtplib.SMTP, to: list[str], payload: bytes, message_id: str, *,
              utf8: bool) -> SendResult:
        """One SMTP mail transaction (MAIL, RCPT, DATA) on an open session."""
        options: list[str] = []
        if utf8:
            if not smtp.has_extn("smtputf8"):
                raise DeliveryError(
                    "Adresse MSSanté non ASCII refusée : le serveur ne prend pas en charge SMTPUTF8.",
                    permanent=True,
                    error_code="adresse_non_ascii",
                )
            options.append("SMTPUTF8")
        code, reply = smtp.mail(self.sender, options)
        if code != 250:
            smtp.rset()
            raise _from_code(code, _reply(reply), "Le serveur MSSanté a refusé l'expéditeur")
        accepted: list[str] = []
        refused: dict[str, tuple[int, str]] = {}
        for address in to:
            code, reply = smtp.rcpt(address)
            if code in (250, 251):
                accepted.append(address)
            else:
                refused[address] = (code, _reply(reply))
        if not accepted:
            smtp.rset()
            permanent = any(c >= 500 for c, _ in refused.values())
            raise DeliveryError(
                "Destinataire(s) MSSanté refusé(s) : " + _describe(refused),
                permanent=permanent,
                status=max(c for c, _ in refused.values()),
                error_code="destinataire_refuse" if permanent else "destinataire_indisponible",
                excerpt=_describe(refused)[:500],
            )
        code, reply = smtp.data(payload)
        if code != 250:
            raise _from_code(code, _reply(reply), "Le serveur MSSanté a refusé le message")
        result = SendResult(message_id, tuple(accepted), refused, code, _reply(reply))
        if refused:
            permanent = any(c >= 500 for c, _ in refused.values())
            raise DeliveryError(
                f"Message remis à {', '.join(accepted)} mais refusé pour : {_describe(refused)}",
                permanent=permanent,
                status=max(c for c, _ in refused.values()),
                error_code="destinataire_refuse" if permanent else "destinataire_indisponible",
                excerpt=_describe(refused)[:500],
            )
        return result


def _quietly_close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.close()
    except OSError:
        pass


def _describe(refused: dict[str, tuple[int, str]]) -> str:
    return "; ".join(f"{addr} ({code} {reply})" for addr, (code, reply) in refused.items())


def _from_code(code: int, reply: str, what: str) -> DeliveryError:
    permanent = code >= 500
    suffix = "" if permanent else " ; nouvel essai prévu"
    return DeliveryError(
        f"{what} ({code} {reply}){suffix}.",
        permanent=permanent,
        status=code,
        error_code=f"smtp_{code}",
        excerpt=f"{code} {reply}"[:500],
    )
