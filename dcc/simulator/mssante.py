"""A local MSSanté relay for the demo and the tests: an SMTP server (aiosmtpd) on a free loopback port that
keeps every message it accepts, in memory."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class _Handler:
    messages: list[ReceivedMail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos),
                                              bytes(envelope.original_content)))
        return "250 2.0.0 Message accepté"


class MailSink:
    """SMTP sink in a background thread. `relay` is the `smtp://host:port` a region's mss_relay takes."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if not port:
            with socket.socket() as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
        self._handler = _Handler()
        self._controller = Controller(self._handler, hostname=host, port=port, enable_SMTPUTF8=True)
        self.host, self.port = host, port

    @property
    def relay(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._handler.lock:
            return list(self._handler.messages)

    def start(self) -> MailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
