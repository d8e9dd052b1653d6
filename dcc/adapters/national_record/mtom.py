"""MTOM/XOP (multipart/related) bodies: the ITI-41 request written byte for byte, and the SOAP root part of
a (possibly MTOM) response.
"""

from __future__ import annotations

import email.message
import email.policy
import email.utils
import uuid
from collections.abc import Sequence
from email.parser import BytesParser

from dcc.adapters.national_record.ebrim import ACTION_ITI41

# --- MTOM/XOP ---------------------------------------------------------------------------------------


def pack_mtom(soap: bytes, document: bytes, *, document_cid: str, mime_type: str,
              extra: Sequence[tuple[str, bytes, str]] = ()) -> tuple[bytes, str]:
    """(body, Content-Type) of an MTOM message: the SOAP root part, the document, then each `extra`
    (Content-ID, bytes, MIME type) part (the submission set's signature document)."""
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    root_cid = f"root.{uuid.uuid4().hex}@dcc"
    while boundary.encode() in soap or boundary.encode() in document or any(
            boundary.encode() in payload for _, payload, _ in extra):  # pragma: no cover - 2^-128
        boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    parts = [
        (
            f'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"; '
            f'action="{ACTION_ITI41}"\r\n'
            "Content-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{root_cid}>\r\n",
            soap,
        ),
        (
            f"Content-Type: {mime_type}\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{document_cid}>\r\n",
            document,
        ),
        *(
            (f"Content-Type: {mime}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{cid}>\r\n", payload)
            for cid, payload, mime in extra
        ),
    ]
    body = (
        b"".join(
            b"--" + boundary.encode() + b"\r\n" + headers.encode("ascii") + b"\r\n" + payload + b"\r\n"
            for headers, payload in parts
        )
        + b"--"
        + boundary.encode()
        + b"--\r\n"
    )
    content_type = (
        f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; '
        f'start="<{root_cid}>"; start-info="application/soap+xml"; action="{ACTION_ITI41}"'
    )
    return body, content_type


def soap_from_response(content: bytes, content_type: str) -> bytes:
    """The SOAP envelope bytes of a response, plain or MTOM (multipart/related)."""
    if not content_type.lower().startswith("multipart/"):
        return content
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    # compat32: the plain MIME parser; the modern policies build header objects (~10 ms per response here)
    message = BytesParser(policy=email.policy.compat32).parsebytes(head + content)
    if not message.is_multipart():
        raise ValueError("multipart response without parts")
    start = message.get_param("start")
    payloads = message.get_payload()
    parts = [p for p in payloads if isinstance(p, email.message.Message)] if isinstance(payloads, list) else []
    root = parts[0] if parts else None
    if isinstance(start, str):
        for part in parts:
            if part.get("Content-ID", "").strip() == start.strip():
                root = part
                break
    if root is None:
        raise ValueError("multipart response without a root part")
    payload = root.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raise ValueError("unreadable root part")
    return payload


