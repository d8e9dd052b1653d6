"""The national record (DMP): XDS metadata derived from the CDA and the ITI-41 transport."""

from dcc.adapters.national_record.metadata import CodedValue, DocumentEntry, check_codes, entry_from_cda
from dcc.adapters.national_record.xds import (
    SenderIdentity,
    SubmitResult,
    XdsTransport,
    entry_uuid_for,
    make_demo_identity,
)

__all__ = [
    "CodedValue",
    "DocumentEntry",
    "SenderIdentity",
    "SubmitResult",
    "XdsTransport",
    "check_codes",
    "entry_from_cda",
    "entry_uuid_for",
    "make_demo_identity",
]
