"""A DMP simulator: an XDS.b document repository + registry answering ITI-41 and MHD ITI-65 over real HTTP.

It shares no Python objects with the sender: it reads the raw MTOM body with the stdlib email
parser, the SOAP with a hardened lxml parser, verifies the VIHF and submission-set signatures against its
trust store (`trust_store`: the CA certificates it accepts; never the certificate a request carries alone),
validates the metadata
as a registry does and answers a SOAP 1.2 RegistryResponse with the standard XDS error codes.
Documents are kept in memory, keyed by DocumentEntry.uniqueId.

Endpoints: `POST /xds/iti41` (ITI-41), `POST /xds/iti18` (ITI-18 GetDocuments by uniqueId: the current
version of an entry), `POST /xds/iti57` (ITI-57 Update Document Set: a new version of a DocumentEntry,
same uniqueId and bytes, new confidentiality codes; the metadata update of the announcement),
`POST /fhir` (MHD ITI-65 transaction Bundle, PDSm; parsed with
fhir.resources R4B, answered with a transaction-response Bundle or an OperationOutcome),
`PATCH /fhir/DocumentReference?identifier=<system>|<value>` and `PATCH /fhir/DocumentReference/{id}`
(JSON Patch of securityLabel only: the metadata update of the announcement),
`GET /fhir/DocumentReference?identifier=…` and `GET /fhir/DocumentReference/{id}` (ITI-67 lookup), `GET /_state`,
`POST /_reset`, `POST /_faults` (body: a fault spec), `GET /_documents/{unique_id}` (stored bytes).

Fault spec: "fail=0.3,drop_after_commit=0.1,latency_ms=50,outage_s=30,seed=7":
- fail: probability of answering 503 before storing;
- drop_after_commit: probability of storing, then breaking the connection mid-answer (ambiguous);
- latency_ms: delay before handling each ITI-41 / ITI-65 / PATCH request;
- outage_s: 503 with Retry-After for the first N seconds (counted from start or `/_faults`);
- seed: seeds the fault RNG.

Modules: `registry` (stored documents and versions), `faults` (fault injection), `soap` (MTOM/SOAP parsing,
VIHF check, SOAP answers), `trust` (the trust store signers are checked against), `dsg` (the submission set's
XAdES signature document), `xds` (ITI-41 metadata checks, ITI-18/57 handlers), `mhd` (ITI-65/67), `dump`
(raw request dump), `ns` (IHE constants); this module wires them into routers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from dcc.simulator.dump import DumpRequests
from dcc.simulator.faults import FaultSpec, _dropped_body, _Faults
from dcc.simulator.mhd import (
    FHIR_JSON,
    FhirError,
    _fhir_unavailable,
    _Identifier,
    apply_security_label_patch,
    document_reference_of,
    fhir_error_response,
    fhir_response,
    operation_outcome,
    transaction_response,
    unique_id_of,
    validate_mhd_bundle,
)
from dcc.simulator.ns import MAX_BODY
from dcc.simulator.reference import load_value_sets
from dcc.simulator.registry import Registry, SoapFault, StoredDocument, XdsError
from dcc.simulator.soap import (
    _unavailable,
    _with_action,
    mtom_response,
    parse_mtom,
    parse_soap,
    registry_response,
    soap_fault,
)
from dcc.simulator.tls import client_certificate
from dcc.simulator.trust import TrustStore
from dcc.simulator.xds import handle_get_documents, handle_update, validate_submission


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def _trust(request: Request) -> TrustStore:
    trust: TrustStore = request.app.state.trust_store
    return trust


def _subject(cert: x509.Certificate | None) -> str:
    """The DN of the TLS client certificate that connected ("" over plain HTTP), kept with what it stored."""
    return cert.subject.rfc4514_string() if cert is not None else ""


def _faults(request: Request) -> _Faults:
    faults: _Faults = request.app.state.faults
    return faults


async def injected_fault(request: Request, unavailable: Callable[..., Response]) -> Response | None:
    """The fault injection (latency, outage, random failure) of every endpoint, answered by `unavailable`
    (a SOAP fault or a FHIR OperationOutcome)."""
    fault_state = _faults(request)
    spec = fault_state.spec
    if spec.latency_ms > 0:
        await asyncio.sleep(spec.latency_ms / 1000)
    remaining = fault_state.outage_remaining()
    if remaining > 0:
        return unavailable("Service DMP indisponible (maintenance simulée).", retry_after=remaining)
    if fault_state.roll(spec.fail):
        return unavailable("Service DMP indisponible (panne simulée).")
    return None


def _dropped(request: Request, media_type: str) -> Response | None:
    """After a commit: the connection broken mid-answer, with the configured probability (ambiguous outcome)."""
    fault_state = _faults(request)
    if fault_state.roll(fault_state.spec.drop_after_commit):
        return StreamingResponse(_dropped_body(), status_code=200, media_type=media_type)
    return None


# --- XDS.b (SOAP) ----------------------------------------------------------------------------------

xds_router = APIRouter(prefix="/xds")


@xds_router.post("/iti41")
async def iti41(request: Request) -> Response:
    body = await request.body()
    gate = await injected_fault(request, _unavailable)
    if gate is not None:
        return gate
    if len(body) > MAX_BODY:
        return mtom_response(soap_fault(SoapFault("InvalidMessage", "Message trop volumineux.")), status=413)
    relates_to = ""
    try:
        parsed = parse_mtom(request.headers.get("content-type", ""), body)
        relates_to = parsed.message_id
        client = client_certificate(request.scope)
        ss_unique_id, candidates = validate_submission(parsed, _trust(request), client)
        _registry(request).commit(ss_unique_id, candidates, client=_subject(client))
    except SoapFault as fault:
        return mtom_response(soap_fault(fault, relates_to), status=400 if fault.sender else 500)
    except XdsError as exc:
        return mtom_response(registry_response(relates_to, exc.errors))
    return _dropped(request, "multipart/related") or mtom_response(registry_response(relates_to))


@xds_router.post("/iti18")
async def iti18(request: Request) -> Response:
    """ITI-18 Registry Stored Query (GetDocuments by uniqueId): the current version of an entry."""
    body = await request.body()
    gate = await injected_fault(request, _unavailable)
    if gate is not None:
        return gate
    relates_to = ""
    try:
        parsed = parse_soap(request.headers.get("content-type", ""), body)
        relates_to = parsed.message_id
        answer = handle_get_documents(parsed, _registry(request), _trust(request), client_certificate(request.scope))
    except SoapFault as fault:
        return mtom_response(soap_fault(fault, relates_to), status=400 if fault.sender else 500)
    return mtom_response(answer)


@xds_router.post("/iti57")
async def iti57(request: Request) -> Response:
    """ITI-57 Update Document Set: new version of a DocumentEntry (same uniqueId, no resubmission)."""
    body = await request.body()
    gate = await injected_fault(request, _unavailable)
    if gate is not None:
        return gate
    if len(body) > MAX_BODY:
        return mtom_response(soap_fault(SoapFault("InvalidMessage", "Message trop volumineux.")), status=413)
    relates_to = ""
    try:
        parsed = parse_soap(request.headers.get("content-type", ""), body)
        relates_to = parsed.message_id
        handle_update(parsed, _registry(request), _trust(request), client_certificate(request.scope))
    except SoapFault as fault:
        return mtom_response(soap_fault(fault, relates_to), status=400 if fault.sender else 500)
    except XdsError as exc:
        return mtom_response(_with_action(registry_response(relates_to, exc.errors)))
    return _dropped(request, "multipart/related") or mtom_response(_with_action(registry_response(relates_to)))


# --- MHD (FHIR) ------------------------------------------------------------------------------------

fhir_router = APIRouter(prefix="/fhir")


def fhir_body_error(request: Request, body: bytes, *, patch: bool = False) -> Response | None:
    if len(body) > MAX_BODY:
        return fhir_response(operation_outcome([("FHIRStructure", "Message trop volumineux.", "")]), 413)
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    accepted = {"application/json-patch+json", "application/json"} if patch else {FHIR_JSON, "application/json"}
    if ctype not in accepted:
        message = f"Content-Type « {ctype} » non pris en charge ({', '.join(sorted(accepted))})."
        return fhir_response(operation_outcome([("FHIRStructure", message, "")]), 415)
    return None


@fhir_router.post("")
async def iti65(request: Request) -> Response:
    """ITI-65 Provide Document Bundle (PDSm): stored in the same registry as ITI-41."""
    body = await request.body()
    gate = await injected_fault(request, _fhir_unavailable) or fhir_body_error(request, body)
    if gate is not None:
        return gate
    try:
        ss_unique_id, candidates, bundle = validate_mhd_bundle(body)
        _registry(request).commit(ss_unique_id, candidates, client=_subject(client_certificate(request.scope)))
    except (FhirError, XdsError) as exc:
        return fhir_error_response(exc)
    return _dropped(request, FHIR_JSON) or fhir_response(transaction_response(bundle))


async def patch_security_labels(request: Request, stored: StoredDocument | None, what: str) -> Response:
    body = await request.body()
    gate = await injected_fault(request, _fhir_unavailable) or fhir_body_error(request, body, patch=True)
    if gate is not None:
        return gate
    if stored is None:
        return fhir_response(
            operation_outcome([("XDSUnknownDocument", f"Document {what} inconnu.", "")], issue_type="not-found"),
            404,
        )
    try:
        patch = json.loads(body)
    except ValueError:
        return fhir_response(operation_outcome([("FHIRStructure", "JSON Patch illisible.", "")]), 400)
    try:
        codes = apply_security_label_patch(stored.confidentiality, patch)
    except FhirError as exc:
        return fhir_error_response(exc)
    _registry(request).update_confidentiality(stored.unique_id, codes)
    dropped = _dropped(request, FHIR_JSON)
    if dropped is not None:
        return dropped
    outcome = OperationOutcome.model_validate(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "information",
                    "code": "informational",
                    "details": {"text": f"securityLabel mis à jour : {', '.join(codes)}"},
                }
            ],
        }
    )
    return fhir_response(json.loads(outcome.model_dump_json(exclude_none=True)))


def stored_by_token(registry: Registry, token: str) -> StoredDocument | None:
    system, sep, value = token.partition("|")
    unique_id = unique_id_of(_Identifier(system, value)) if sep else ""
    return registry.get(unique_id) if unique_id else None


@fhir_router.get("/DocumentReference")
def search_document_references(request: Request) -> Response:
    """ITI-67 search, by `identifier=<system>|<value>` (the uniqueId) only."""
    token = request.query_params.get("identifier", "")
    if not token:
        message = "Seule la recherche par identifiant (identifier=<système>|<valeur>) est prise en charge."
        return fhir_response(operation_outcome([("FHIRStructure", message, "")], issue_type="not-supported"), 400)
    stored = stored_by_token(_registry(request), token)
    found = [document_reference_of(stored)] if stored is not None else []
    result = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "entry": [
            {"fullUrl": f"DocumentReference/{d['id']}", "resource": d, "search": {"mode": "match"}} for d in found
        ],
    }
    return fhir_response(json.loads(Bundle.model_validate(result).model_dump_json(exclude_none=True)))


@fhir_router.get("/DocumentReference/{resource_id}")
def read_document_reference(request: Request, resource_id: str) -> Response:
    stored = _registry(request).find_by_entry_uuid(f"urn:uuid:{resource_id}")
    if stored is None:
        return fhir_response(
            operation_outcome([("XDSUnknownDocument", f"Document {resource_id} inconnu.", "")], issue_type="not-found"),
            404,
        )
    return fhir_response(document_reference_of(stored))


@fhir_router.patch("/DocumentReference")
async def patch_by_identifier(request: Request) -> Response:
    """Metadata update (TD3.3a/b): PATCH securityLabel of the DocumentReference `?identifier=system|value`."""
    token = request.query_params.get("identifier", "")
    return await patch_security_labels(request, stored_by_token(_registry(request), token), token)


@fhir_router.patch("/DocumentReference/{resource_id}")
async def patch_by_id(request: Request, resource_id: str) -> Response:
    stored = _registry(request).find_by_entry_uuid(f"urn:uuid:{resource_id}")
    return await patch_security_labels(request, stored, resource_id)


# --- test controls ---------------------------------------------------------------------------------

admin_router = APIRouter()


@admin_router.get("/_state")
def state(request: Request) -> JSONResponse:
    return JSONResponse(_registry(request).state())


@admin_router.post("/_reset")
def reset(request: Request) -> JSONResponse:
    _registry(request).reset()
    return JSONResponse({"status": "ok"})


@admin_router.post("/_faults")
async def set_faults(request: Request) -> JSONResponse:
    text = (await request.body()).decode("utf-8").strip()
    try:
        _faults(request).set(FaultSpec.parse(text))
    except ValueError as exc:
        return JSONResponse({"code": "donnee_invalide", "message": str(exc)}, status_code=422)
    return JSONResponse({"status": "ok", "faults": text})


@admin_router.get("/_documents/{unique_id}")
def document(request: Request, unique_id: str) -> Response:
    stored = _registry(request).get(unique_id)
    if stored is None:
        return JSONResponse({"code": "introuvable", "message": f"Document {unique_id} inconnu."}, status_code=404)
    return Response(content=stored.content, media_type="text/xml")


# --- application -----------------------------------------------------------------------------------


def create_app(*, faults: str | None = None, dump_dir: Path | None = None, kit: Path | None = None,
               trust_store: Path | str | list[Path] | None = None,
               monotonic: Callable[[], float] = time.monotonic) -> FastAPI:
    """The DMP simulator as a FastAPI app (see module docstring). Its value sets come from the ANS kit (`kit`,
    else $DCC_ANS_KIT, else ../shared/ans-cda-kit; see dcc.simulator.reference). `trust_store`: the PEM CA
    certificates (file, directory or list) a VIHF / submission-set signer must be issued by; without one every
    signed request is refused (dcc.simulator.trust). `monotonic`: the clock an outage is counted on (tests pass
    their own, so that an outage ends when the test's clock says so)."""
    value_sets_source = load_value_sets(kit)
    app = FastAPI(title="Simulateur DMP (XDS.b ITI-41)", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.registry = Registry()
    app.state.faults = _Faults(FaultSpec.parse(faults), monotonic)
    app.state.value_sets_source = value_sets_source
    app.state.trust_store = TrustStore.from_setting(trust_store)
    if dump_dir is not None:
        app.add_middleware(DumpRequests, directory=dump_dir)
    app.include_router(xds_router)
    app.include_router(fhir_router)
    app.include_router(admin_router)
    return app


__all__ = ["FaultSpec", "Registry", "StoredDocument", "create_app"]
