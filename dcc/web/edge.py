"""What every request goes through before its route, as one pure ASGI middleware (`Edge`).

Five middlewares did it one after the other (request id, security headers, metrics, NUL bytes, body size),
each with its own call, closure and wrapper around `send`: under load their layers cost about as much as a
small handler's own work. `Edge` does the same things in one layer, in the same order:

* the request id (`X-Request-ID` from the reverse proxy when it is a short token, else a new one) bound to
  every log line written while serving the request, and echoed in the answer;
* NUL bytes in the path or query string: 422 in French before any handler or query runs (PostgreSQL text
  cannot even hold them);
* the body size: 413 when the declared or streamed body exceeds the limit (POST to an upload route: 20 MiB);
* the security headers of every answer (CSP without inline scripts, except the API docs' pages; `no-store`
  on the API: health data is never cached);
* the metrics: requests per method, route template and status (no ids in labels), and their duration.
"""

from __future__ import annotations

import json
import re
import time
import uuid

from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, reset_contextvars

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB

CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
# Swagger UI and ReDoc load their scripts from a CDN and run an inline bootstrap script.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
            "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
            "https://cdn.redoc.ly; worker-src 'self' blob:; frame-ancestors 'none'; object-src 'none'")
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})

HTTP_MESSAGES = {
    400: ("requete_invalide", "La requête est invalide."),
    401: ("non_authentifie", "Authentification requise."),
    403: ("interdit", "Accès refusé."),
    404: ("introuvable", "Ressource introuvable."),
    405: ("methode_non_autorisee", "Méthode HTTP non autorisée pour cette adresse."),
    413: ("requete_trop_volumineuse",
          f"Le corps de la requête dépasse la taille maximale autorisée ({MAX_BODY_BYTES // 1024} Kio)."),
    415: ("type_non_supporte", "Type de contenu non pris en charge."),
}

# Routes that receive a file (multipart) get a larger limit: the attachments service accepts files up to
# 20 MiB (dcc.services.attachments.MAX_BYTES); the margin covers the multipart envelope and the form fields.
UPLOAD_MAX_BYTES = 20 * 1024 * 1024 + 256 * 1024
UPLOAD_ROUTES = (re.compile(r"^/api/v1/cases/[^/]+/attachments$"),
                 re.compile(r"^/coordination/dossiers/[^/]+/pieces-jointes$"))
UPLOAD_413 = ("fichier_trop_volumineux", "Le fichier dépasse la taille maximale autorisée (20 Mo).")

_TOKEN = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_NUL_BODY = json.dumps({"code": "donnee_invalide", "message": "La requête contient un caractère nul, refusé."}).encode()


def _security_headers(csp: str, *, api: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    ]
    if api:
        headers.append((b"cache-control", b"no-store"))  # health data: never cached
    return headers


# built once: (docs page?, API?) -> headers
_SECURITY = {(docs, api): _security_headers(DOCS_CSP if docs else CSP, api=api)
             for docs in (False, True) for api in (False, True)}


def _page_413(message: str) -> str:
    return ('<!doctype html><html lang="fr"><head><meta charset="utf-8"><meta name="viewport" '
            'content="width=device-width, initial-scale=1"><title>Fichier trop volumineux — dcc</title></head>'
            f'<body><main><h1>Envoi refusé</h1><p>{message} Rien n\'a été enregistré.</p>'
            '<p>Revenez à la page précédente pour joindre un fichier plus petit.</p></main></body></html>')


class Edge:
    """Request id, NUL bytes, body size, security headers and metrics in one layer (see the module)."""

    def __init__(self, app: ASGIApp, *, requests: Counter, latency: Histogram, max_bytes: int = MAX_BODY_BYTES,
                 upload_routes: tuple[re.Pattern[str], ...] = UPLOAD_ROUTES,
                 upload_max_bytes: int = UPLOAD_MAX_BYTES) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency
        self.max_bytes = max_bytes
        self.upload_routes = upload_routes
        self.upload_max_bytes = upload_max_bytes

    def _limit(self, scope: Scope) -> tuple[int, tuple[str, str]]:
        path: str = scope.get("path", "")
        if scope.get("method") == "POST" and any(r.match(path) for r in self.upload_routes):
            return max(self.upload_max_bytes, self.max_bytes), UPLOAD_413
        return self.max_bytes, HTTP_MESSAGES[413]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        given, declared = "", -1
        for name, value in headers:
            if name == b"x-request-id":
                given = value.decode("latin-1")
            elif name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
        request_id = given if given and _TOKEN.match(given) else uuid.uuid4().hex
        path: str = scope.get("path", "")
        extra = [*_SECURITY[(path in DOCS_PATHS, path.startswith("/api/"))], (b"x-request-id", request_id.encode())]
        status = 500

        async def send_wrapped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                out = list(message.get("headers", []))
                present = {k.lower() for k, _ in out}
                out += [(k, v) for k, v in extra if k not in present or k == b"x-request-id"]
                message = {**message, "headers": out}
            await send(message)

        tokens = bind_contextvars(request_id=request_id)
        try:
            limit = self._limit(scope)
            refusal = self._refusal(scope, declared, limit)
            if refusal is not None:
                await refusal(scope, receive, send_wrapped)
                return
            await self.app(scope, self._limited(limit[0], receive), send_wrapped)
        finally:
            reset_contextvars(**tokens)
            route = scope.get("route")
            template = getattr(route, "path", None) or "<autre>"
            method = scope.get("method", "")
            self.requests.labels(method, template, str(status)).inc()
            self.latency.labels(method, template).observe(time.perf_counter() - started)

    def _refusal(self, scope: Scope, declared: int, limit: tuple[int, tuple[str, str]]) -> Response | None:
        """422 for a NUL byte in the path or query, 413 for a declared body over the limit; None otherwise."""
        raw = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
        query = scope.get("query_string", b"")
        if b"\x00" in raw or b"%00" in raw.lower() or b"%00" in query.lower() or "\x00" in scope.get("path", ""):
            return Response(_NUL_BODY, status_code=422, media_type="application/json")
        if declared > 0:
            max_bytes, (code, message) = limit
            if declared > max_bytes:
                if not str(scope.get("path", "")).startswith("/api/"):  # a page's form: a page
                    return HTMLResponse(_page_413(message), status_code=413)
                return JSONResponse({"code": code, "message": message}, status_code=413)
        return None

    def _limited(self, limit: int, receive: Receive) -> Receive:
        """`receive` counting the streamed body against `limit` (413 past it)."""
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise StarletteHTTPException(status_code=413)
            return message

        return limited_receive
