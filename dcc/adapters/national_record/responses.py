"""What the registry answered: RegistryResponse parsing, the French refusal messages, the transient /
permanent classification of registry errors and HTTP statuses, and the httpx client owner.
"""

from __future__ import annotations

import datetime as dt
import email.message
import email.policy
import email.utils
from dataclasses import dataclass, field
from typing import Any, Self

import httpx
from lxml import etree

from dcc.adapters.http_failures import Failure, classify_failure
from dcc.adapters.national_record.ebrim import _PARSER, RS, SOAP, STATUS_PARTIAL, STATUS_SUCCESS
from dcc.errors import DeliveryError

MAX_RESPONSE_BYTES = 5 * 1024 * 1024
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


# --- response -------------------------------------------------------------------------------------

PERMANENT_MESSAGES: dict[str, str] = {
    "XDSRegistryMetadataError": "Le DMP a refusé les métadonnées du document.",
    "XDSRepositoryMetadataError": "Le DMP a refusé les métadonnées du document (empreinte ou taille).",
    "XDSNonIdenticalHash": (
        "Le DMP contient déjà un document avec cet identifiant mais un contenu différent."
    ),
    "XDSNonIdenticalSize": (
        "Le DMP contient déjà un document avec cet identifiant mais une taille différente."
    ),
    "XDSPatientIdDoesNotMatch": "L'identifiant patient (INS) ne concorde pas dans la soumission.",
    "XDSUnknownPatientId": "Le DMP ne connaît pas cet INS (ou le DMP du patient n'est pas actif).",
    "XDSDuplicateUniqueIdInRegistry": "Le DMP contient déjà cet identifiant avec un contenu différent.",
    "XDSRegistryDuplicateUniqueIdInMessage": "La soumission contient deux fois le même identifiant.",
    "XDSMissingDocument": "Le document est absent de la soumission.",
    "XDSMissingDocumentMetadata": "Les métadonnées d'un document sont absentes de la soumission.",
    "XDSUnknownRepositoryId": "Entrepôt de documents inconnu du DMP.",
}
TRANSIENT_CODES = {
    "XDSRegistryBusy",
    "XDSRepositoryBusy",
    "XDSRegistryOutOfResources",
    "XDSRepositoryOutOfResources",
    "XDSRegistryNotAvailable",
    "XDSRegistryError",
    "XDSRepositoryError",
}


@dataclass(frozen=True)
class RegistryError:
    code: str
    context: str
    severity: str
    location: str = ""


@dataclass(frozen=True)
class SubmitResult:
    unique_id: str
    entry_uuid: str
    submission_set_unique_id: str
    message_id: str
    status: str  # registry ResponseStatusType (Success or PartialSuccess)
    http_status: int
    warnings: tuple[RegistryError, ...] = field(default_factory=tuple)
    excerpt: str = ""  # start of the response body, for the delivery log

    @property
    def status_code(self) -> int:
        return self.http_status


def parse_registry_response(soap: bytes) -> tuple[str, list[RegistryError], tuple[str, str] | None]:
    """(status, errors, fault) of a SOAP 1.2 response: fault = (code, reason) for a SOAP Fault."""
    root = etree.fromstring(soap, parser=_PARSER)
    fault = root.find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    if fault is not None:
        value = fault.findtext(f"{{{SOAP}}}Code/{{{SOAP}}}Value", default="")
        sub = fault.findtext(f"{{{SOAP}}}Code/{{{SOAP}}}Subcode/{{{SOAP}}}Value", default="")
        reason = fault.findtext(f"{{{SOAP}}}Reason/{{{SOAP}}}Text", default="")
        return "Fault", [], (sub or value, reason)
    response = root.find(f".//{{{RS}}}RegistryResponse")
    if response is None:
        raise ValueError("no RegistryResponse in the SOAP body")
    errors = _registry_errors(response)
    return response.get("status", ""), errors, None


def dmp_unavailable(status: int, *, retry_after: float | None, content: bytes, detail: str = "") -> DeliveryError:
    """A transient HTTP-level failure of the national record (429, 5xx): retried later."""
    return DeliveryError(
        f"Le DMP est momentanément indisponible (HTTP {status}) ; nouvel essai prévu."
        + (f" ({detail})" if detail else ""),
        permanent=False,
        status=status,
        error_code=f"http_{status}",
        retry_after=retry_after,
        excerpt=_excerpt(content),
    )


def dmp_refused_http(status: int, *, content: bytes) -> DeliveryError:
    """A permanent HTTP-level refusal whose body says nothing the client can read (no SOAP, no FHIR)."""
    return DeliveryError(
        f"Le DMP a refusé la requête (HTTP {status}).",
        permanent=True,
        status=status,
        error_code=f"http_{status}",
        excerpt=_excerpt(content),
    )


def _registry_errors(response: Any) -> list[RegistryError]:
    """The RegistryErrorList of a RegistryResponse or AdhocQueryResponse element."""
    return [
        RegistryError(
            code=err.get("errorCode", ""),
            context=err.get("codeContext", ""),
            severity=err.get("severity", ""),
            location=err.get("location", ""),
        )
        for err in response.iterfind(f"{{{RS}}}RegistryErrorList/{{{RS}}}RegistryError")
    ]


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _excerpt(content: bytes) -> str:
    return content[:500].decode("utf-8", "replace")


def registry_refusal(http_status: int, registry_status: str, errors: list[RegistryError],
                     fault: tuple[str, str] | None, *, fault_excerpt: str, retry_after: float | None,
                     transient_codes: set[str], transient_text: str,
                     refused_text: str) -> DeliveryError | None:
    """What a RegistryResponse (ITI-41, ITI-57) means: None when the registry accepted the request, else
    the DeliveryError to raise: a SOAP fault (permanent), a transient registry error (retried; the French
    text is `transient_text (code) ; nouvel essai prévu.`), or a refusal (permanent, with the French
    message of its error code, `refused_text` by default). Warnings never block."""
    if fault is not None:
        return DeliveryError(
            f"Le DMP a rejeté la requête SOAP ({fault[0]}) : {fault[1]}",
            permanent=True,
            status=http_status,
            error_code=fault[0],
            excerpt=fault_excerpt,
        )
    blocking = [e for e in errors if not e.severity.endswith("Warning")]
    if registry_status in (STATUS_SUCCESS, STATUS_PARTIAL) and not blocking and 200 <= http_status < 300:
        return None
    first = blocking[0] if blocking else RegistryError("XDSRegistryError", "", "")
    detail = "; ".join(f"{e.code} : {e.context}" for e in blocking) or registry_status
    if first.code in transient_codes:
        return DeliveryError(
            f"{transient_text} ({first.code}) ; nouvel essai prévu.",
            permanent=False,
            status=http_status,
            error_code=first.code,
            retry_after=retry_after,
            excerpt=detail[:500],
        )
    message = PERMANENT_MESSAGES.get(first.code, refused_text)
    return DeliveryError(
        f"{message} ({first.code} : {first.context})",
        permanent=True,
        status=http_status,
        error_code=first.code,
        excerpt=detail[:500],
    )


Parsed = tuple[str, list[RegistryError], tuple[str, str] | None]  # (registry status, errors, SOAP fault)


def registry_verdict(parsed: Parsed, transient_codes: set[str]) -> Failure | None:
    """What a parsed SOAP answer says, in the terms of `classify_failure`: None when the registry accepted
    the request; a SOAP fault is transient when it blames the Receiver (SOAP 1.2 Part 1 §5.4.6), permanent
    when it blames the Sender; a registry error is transient when its code is in `transient_codes`."""
    registry_status, errors, fault = parsed
    if fault is not None:
        return Failure.TRANSIENT if fault[0].endswith("Receiver") else Failure.PERMANENT
    blocking = [e for e in errors if not e.severity.endswith("Warning")]
    if registry_status in (STATUS_SUCCESS, STATUS_PARTIAL) and not blocking:
        return None
    first = blocking[0].code if blocking else "XDSRegistryError"
    return Failure.TRANSIENT if first in transient_codes else Failure.PERMANENT


def soap_failure(http_status: int, content: bytes, parsed: Parsed | None, *, retry_after: float | None,
                 transient_codes: set[str], transient_text: str, refused_text: str,
                 unreadable_text: str) -> DeliveryError | None:
    """The DeliveryError of a SOAP exchange (ITI-41, ITI-18, ITI-57), or None when it succeeded.

    `parsed` is the answer read as a RegistryResponse / AdhocQueryResponse (None when unreadable). The
    transient/permanent decision is `classify_failure` (the same as every other transport); the French
    message names the registry's error when the registry's own verdict agrees with that decision."""
    verdict = registry_verdict(parsed, transient_codes) if parsed is not None else None
    failure = classify_failure(http_status, explained=verdict)
    if parsed is None and 200 <= http_status < 300:
        return DeliveryError(unreadable_text, permanent=False, status=http_status,
                             error_code="reponse_illisible", excerpt=_excerpt(content))
    if failure is None:
        return None
    if parsed is None or failure is not verdict or (parsed[2] is not None and failure is Failure.TRANSIENT):
        if failure is Failure.TRANSIENT:
            return dmp_unavailable(http_status, retry_after=retry_after, content=content)
        return dmp_refused_http(http_status, content=content)
    registry_status, errors, fault = parsed
    return registry_refusal(http_status, registry_status, errors, fault, fault_excerpt=_excerpt(content),
                            retry_after=retry_after, transient_codes=transient_codes,
                            transient_text=transient_text, refused_text=refused_text)


# Metadata-update errors that a fresh query + resend resolves (someone updated the entry meanwhile).
MU_TRANSIENT_CODES = {"XDSMetadataVersionError"}
UPDATE_TRANSIENT_CODES = TRANSIENT_CODES | MU_TRANSIENT_CODES  # what an ITI-57 update retries


# --- transport ----------------------------------------------------------------------------------


class HttpClientOwner:
    """An httpx client given by the caller (kept open) or created here (closed by `close()`)."""

    def __init__(self, client: httpx.Client | None, timeout: float | httpx.Timeout | None) -> None:
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=timeout or DEFAULT_TIMEOUT)
        self._timeout = timeout

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            self._client.close()

    def _request(self, method: str, url: str, *, content: bytes | None, headers: dict[str, str],
                 after_failure: str) -> httpx.Response:
        """One HTTP exchange with the national record; a timeout or a broken connection is a transient
        DeliveryError whose French message ends with `after_failure` (what happens next)."""
        try:
            if self._timeout is None:
                return self._client.request(method, url, content=content, headers=headers)
            return self._client.request(method, url, content=content, headers=headers, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"Le DMP n'a pas répondu à temps ; {after_failure}", permanent=False,
                                error_code="delai_depasse", excerpt=str(exc)) from exc
        except httpx.TransportError as exc:
            raise DeliveryError(f"La connexion au DMP a échoué ou a été interrompue ; {after_failure}",
                                permanent=False, error_code="connexion_interrompue", excerpt=str(exc)) from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
