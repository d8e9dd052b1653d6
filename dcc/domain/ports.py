"""Ports the services depend on; adapters implement them (real ones in dcc/adapters, fakes for tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from dcc.domain.documents import FrcpContent, PpsContent


class CdaBuilder(Protocol):
    def build_frcp(self, content: FrcpContent) -> bytes: ...
    def build_pps(self, content: PpsContent) -> bytes: ...
    def stamp_legal_authenticator(self, cda: bytes, *, signed_at: datetime) -> bytes: ...
    def mailto_recipients(self, cda: bytes) -> list[str]:
        """MSSanté addresses (`mailto:` telecoms) of the document's INF and CON participants: whom the
        secure-messaging transport will send it to."""
        ...


class PdfRenderer(Protocol):
    template_version: str

    def render_frcp(self, content: FrcpContent) -> bytes: ...
    def render_pps(self, content: PpsContent) -> bytes: ...


class PdfSigner(Protocol):
    def sign(self, pdf: bytes, *, signer_name: str, reason: str, location: str) -> bytes: ...


class SignerDirectory(Protocol):
    """Finds the signing key of a physician (PKCS#12 file, PKCS#11 token, remote service)."""

    def signer_for(self, *, id_nat: str, name: str) -> PdfSigner: ...


@dataclass(frozen=True)
class Submission:
    """What a transport sends: the frozen bytes and what the metadata needs beyond the CDA."""

    unique_id: str
    cda: bytes
    pdf: bytes
    kind: str
    extra_confidentiality: tuple[str, ...] = ()
    replaces_unique_id: str | None = None


@dataclass(frozen=True)
class SubmitOutcome:
    status_code: int | None
    excerpt: str = ""


@runtime_checkable
class Transport(Protocol):
    def submit(self, submission: Submission) -> SubmitOutcome:
        """Send; raise dcc.errors.DeliveryError (permanent or transient) on failure."""
        ...


@runtime_checkable
class NationalRecord(Transport, Protocol):
    """The national record (DMP, over XDS.b or MHD): submission plus the metadata updates of a document
    already there (same uniqueId, nothing resent). Every method raises dcc.errors.DeliveryError on failure."""

    def update_visibility(self, unique_id: str, visible: bool) -> SubmitOutcome:
        """Visible to the patient (announcement consultation done) or not: confidentiality code
        INVISIBLE_PATIENT removed or added."""
        ...

    def update_masking(self, unique_id: str, masked: bool) -> SubmitOutcome:
        """Masked from professionals (the patient's choice) or not: confidentiality code MASQUE_PS added or
        removed."""
        ...

    def update_legal_representatives_visibility(self, unique_id: str, hidden: bool) -> SubmitOutcome:
        """Hidden from the legal representatives of a minor patient (the minor's recorded choice) or not:
        confidentiality code INVISIBLE_REPRESENTANTS_LEGAUX added or removed."""
        ...
