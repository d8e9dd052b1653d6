"""Secure messaging (MSSanté) to the referring GP and the correspondents: IHE XDM zip sent by SMTP."""

from dcc.adapters.messaging.smtp import MssanteMailer, SendResult, xdm_subject
from dcc.adapters.messaging.transport import MssanteCorrespondents, recipients_from_cda
from dcc.adapters.messaging.xdm import build_xdm_zip, intended_recipient

__all__ = [
    "MssanteCorrespondents",
    "MssanteMailer",
    "SendResult",
    "build_xdm_zip",
    "intended_recipient",
    "recipients_from_cda",
    "xdm_subject",
]
