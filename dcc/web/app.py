"""The web application: JSON API v1, health and metrics. `make serve` runs `create_app` as a factory.

Errors: every DccError answers its status with `{"code", "message", "field"?}` (French message);
request validation errors answer 422 in the same shape, naming the field.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.exceptions import HTTPException as StarletteHTTPException

from dcc.config import Settings, get_settings
from dcc.errors import DatabaseNotMigrated, DccError
from dcc.logging import configure_from_settings
from dcc.services import queries
from dcc.services.audit import Sealer
from dcc.services.uow import Database
from dcc.web.api import api_v1
from dcc.web.auth import UserCache, install_auth
from dcc.web.edge import HTTP_MESSAGES, MAX_BODY_BYTES, Edge
from dcc.web.ratelimit import RateLimiter, install_rate_limits
from dcc.web.routing import FlatDispatch
from dcc.web.schemas import HealthOut, error_responses

log = logging.getLogger("dcc.web")

# ------------------------------------------------------------------------------ validation messages


def _field_path(loc: Iterable[Any]) -> str | None:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or None


def _ctx(err: dict[str, Any], key: str) -> str:
    value = (err.get("ctx") or {}).get(key, "")
    return str(value).replace(" or ", " ou ")


def _french(err: dict[str, Any]) -> str:
    """A French message for one pydantic error (our own validators already speak French)."""
    kind = str(err.get("type", ""))
    if kind in ("value_error", "assertion_error"):
        msg = str(err.get("msg", ""))
        for prefix in ("Value error, ", "Assertion failed, "):
            msg = msg.removeprefix(prefix)
        return msg
    messages: dict[str, str] = {
        "missing": "ce champ est obligatoire",
        "extra_forbidden": "ce champ n'est pas attendu",
        "string_type": "une chaîne de caractères est attendue",
        "string_too_short": f"au moins {_ctx(err, 'min_length')} caractère(s) attendu(s)",
        "string_too_long": f"au plus {_ctx(err, 'max_length')} caractère(s) autorisé(s)",
        "string_pattern_mismatch": f"le format attendu n'est pas respecté (motif {_ctx(err, 'pattern')})",
        "literal_error": f"valeur attendue : {_ctx(err, 'expected')}",
        "enum": f"valeur attendue : {_ctx(err, 'expected')}",
        "int_parsing": "un nombre entier est attendu",
        "int_type": "un nombre entier est attendu",
        "int_from_float": "un nombre entier est attendu",
        "float_parsing": "un nombre est attendu",
        "float_type": "un nombre est attendu",
        "bool_parsing": "un booléen (true ou false) est attendu",
        "bool_type": "un booléen (true ou false) est attendu",
        "date_parsing": "une date au format AAAA-MM-JJ est attendue",
        "date_type": "une date au format AAAA-MM-JJ est attendue",
        "date_from_datetime_parsing": "une date au format AAAA-MM-JJ est attendue",
        "date_from_datetime_inexact": "une date sans heure est attendue",
        "datetime_parsing": "une date et heure ISO 8601 est attendue",
        "datetime_type": "une date et heure ISO 8601 est attendue",
        "greater_than": f"la valeur doit être strictement supérieure à {_ctx(err, 'gt')}",
        "greater_than_equal": f"la valeur doit être supérieure ou égale à {_ctx(err, 'ge')}",
        "less_than": f"la valeur doit être strictement inférieure à {_ctx(err, 'lt')}",
        "less_than_equal": f"la valeur doit être inférieure ou égale à {_ctx(err, 'le')}",
        "list_type": "une liste est attendue",
        "dict_type": "un objet JSON est attendu",
        "model_type": "un objet JSON est attendu",
        "model_attributes_type": "un objet JSON est attendu",
        "too_short": f"au moins {_ctx(err, 'min_length')} élément(s) attendu(s)",
        "too_long": f"au plus {_ctx(err, 'max_length')} élément(s) autorisé(s)",
        "json_invalid": "le corps de la requête n'est pas un JSON valide",
        "uuid_parsing": "un identifiant UUID est attendu",
    }
    return messages.get(kind, "valeur invalide")


def validation_error_body(errors: Iterable[dict[str, Any]]) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    for err in errors:
        loc = list(err.get("loc", ()))
        kind = err.get("type")
        field = None if kind == "json_invalid" else _field_path(loc)
        text = _french(err)
        if field:
            message = f"Champ « {field} » : {text}"
        elif kind == "missing":
            message = "Le corps de la requête est obligatoire."
        else:
            message = text[:1].upper() + text[1:]
            if not message.endswith("."):
                message += "."
        details.append({"field": field, "message": message})
    first = details[0] if details else {"field": None, "message": "Requête invalide."}
    body: dict[str, Any] = {"code": "donnee_invalide", "message": first["message"]}
    if first["field"]:
        body["field"] = first["field"]
    if len(details) > 1:
        body["details"] = details
    return body


# ------------------------------------------------------------------------------------- middlewares


class DatabaseCollector(Collector):
    """Documents by status and outbox messages by state, read from the database at scrape time."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterable[GaugeMetricFamily]:
        up = GaugeMetricFamily("dcc_database_up", "1 si la base de données répond")
        docs = GaugeMetricFamily("dcc_documents", "Documents par statut", labels=["status"])
        outbox = GaugeMetricFamily("dcc_outbox_messages", "Messages d'envoi par état", labels=["state"])
        flows = GaugeMetricFamily("dcc_flow_runs", "Exécutions de flux Prefect terminées, par flux et issue",
                                  labels=["flow", "outcome"])
        try:
            with self.database.uow() as uow:
                doc_counts = queries.count_documents_by_status(uow)
                outbox_counts = queries.count_outbox_by_state(uow)
                flow_counts = queries.count_flow_runs(uow)
        except Exception:  # a scrape must not fail because the database is down
            log.exception("metrics: database unavailable")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for status, n in sorted(doc_counts.items()):
            docs.add_metric([status], n)
        for state in sorted(set(queries.DELIVERY_STATES) | set(outbox_counts)):
            outbox.add_metric([state], outbox_counts.get(state, 0))
        for (flow_name, outcome), n in sorted(flow_counts.items()):
            flows.add_metric([flow_name, outcome], n)
        yield up
        yield docs
        yield outbox
        yield flows


# ------------------------------------------------------------------------------------------- pages


# --------------------------------------------------------------------------------------------- app


def _default_database() -> Database:
    from dcc.bootstrap import database

    return database()


def create_app(*, database: Database | None = None, max_body_bytes: int = MAX_BODY_BYTES,
               settings: Settings | None = None, rate_limiter: RateLimiter | None = None,
               audit_seal_interval_s: float | None = None, user_cache: UserCache | None = None) -> FastAPI:
    """Build the app on `database` (default: from the DCC_* settings). Refuses an unmigrated database.

    A session's validation only commits its "documents due" rows (and emits a Prefect event): the
    documents are generated by `generate_pending_documents` (Prefect deployment, `dcc documents drain`), never
    in this process's background. `rate_limiter`: the per-user
    limits of expensive endpoints (default: from the DCC_RATE_LIMIT_* settings, see dcc.web.ratelimit).
    `audit_seal_interval_s`: how often a thread of this process seals new audit entries into the chain
    (dcc.services.audit; default: DCC_AUDIT_SEAL_INTERVAL_S when the database comes from the settings,
    none when the caller passes a database; 0: never). `user_cache`: the accounts kept between requests
    (dcc.web.auth.UserCache; default: DCC_AUTH_USER_CACHE_S seconds).
    """
    if audit_seal_interval_s is None:
        audit_seal_interval_s = (settings or get_settings()).audit_seal_interval_s if database is None else 0.0
    if database is None:
        configure_from_settings(settings or get_settings())  # JSON lines in production (dcc.logging)
        try:
            database = _default_database()
        except DatabaseNotMigrated as exc:
            log.critical(exc.message)
            raise SystemExit(f"dcc : {exc.message}") from None
    database.ensure_migrated()
    db = database

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db.ensure_migrated()  # again at startup: a migration may have been rolled back meanwhile
        sealer = Sealer(db, audit_seal_interval_s) if audit_seal_interval_s and audit_seal_interval_s > 0 else None
        if sealer is not None:
            sealer.start()
        try:
            yield
        finally:
            if sealer is not None:
                sealer.stop()

    app = FastAPI(
        title="dcc — Dossier Communicant de Cancérologie",
        version="1",
        description="API des RCP : annuaire, séances, dossiers, décisions, documents et envois.",
        lifespan=lifespan,
        responses=error_responses(413),
    )
    app.state.database = db

    registry = CollectorRegistry(auto_describe=True)
    requests = Counter("dcc_http_requests", "Requêtes HTTP", ["method", "route", "status"], registry=registry)
    latency = Histogram("dcc_http_request_duration_seconds", "Durée des requêtes HTTP", ["method", "route"],
                        registry=registry)
    registry.register(DatabaseCollector(db))
    app.state.metrics_registry = registry

    # Outermost last: security headers on every answer, metrics around the body limit and the rate limits
    # (innermost: inside the session middleware that install_auth adds last).
    install_rate_limits(app, rate_limiter)
    # request id, NUL bytes, body size, security headers, metrics: one layer (dcc.web.edge)
    app.add_middleware(Edge, requests=requests, latency=latency, max_bytes=max_body_bytes)

    @app.exception_handler(DccError)
    async def dcc_error(_: Request, exc: DccError) -> JSONResponse:
        if exc.status_code >= 500:
            log.error("dcc error %s: %s", exc.code, exc.message)
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if isinstance(retry_after, int) else None
        return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_error_body(exc.errors()), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = HTTP_MESSAGES.get(exc.status_code, ("erreur_http", "La requête n'a pas pu aboutir."))
        return JSONResponse({"code": code, "message": message}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return JSONResponse({"code": "erreur_interne", "message": "Erreur interne du serveur. L'incident est "
                             "journalisé ; réessayez plus tard."}, status_code=500)

    @app.get("/healthz", response_model=HealthOut, tags=["Supervision"], summary="État de santé",
             responses=error_responses(503))
    def healthz() -> HealthOut | JSONResponse:
        if not _database_ok(db):
            return JSONResponse({"code": "base_indisponible", "message": "La base de données ne répond pas."},
                                status_code=503)
        return HealthOut(status="ok", database="ok")

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    # refuses dev auth in production; session cookie; /login, /logout
    install_auth(app, settings, user_cache=user_cache)
    from dcc.bootstrap import check_production_identity, check_production_signing

    check_production_identity(settings or get_settings())  # production: no demo VIHF key, trust store required
    check_production_signing(settings or get_settings())  # production: signers checked against a CA and CRL
    app.include_router(api_v1)
    from dcc.web.pages import mount_static, pages_router

    app.include_router(pages_router)
    mount_static(app)
    _use_error_model_in_openapi(app)
    _prepare_routes(app)
    FlatDispatch.install(app)  # one pass over the routes per request (dcc.web.routing)
    return app


def _prepare_routes(app: FastAPI) -> None:
    """Let FastAPI build every included route's handler now rather than on the first request that reaches its
    router (about 150 routes, most of a second of CPU: the first requests of a new worker would wait for it).
    A path that matches nothing makes each router look at all its routes."""
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/\u2400", "root_path": "", "headers": [],
                             "query_string": b""}
    for route in app.router.routes:
        route.matches(dict(scope))


def _database_ok(db: Database) -> bool:
    try:
        with db.uow() as uow:
            queries.ping(uow)
    except Exception:
        log.exception("health: database unavailable")
        return False
    return True



def _use_error_model_in_openapi(app: FastAPI) -> None:
    """FastAPI documents request validation errors with its own model; ours answer ErrorOut instead."""
    original = app.openapi
    error_ref = "#/components/schemas/ErrorOut"

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                answer = operation.get("responses", {}).get("422")
                if answer is not None:
                    operation["responses"]["422"] = {
                        "description": "Donnée invalide (le champ en cause est nommé)",
                        "content": {"application/json": {"schema": {"$ref": error_ref}}},
                    }
        components = schema.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
