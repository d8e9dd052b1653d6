"""Rate limits per user on expensive endpoints: an in-memory token bucket per (user login, bucket).

Buckets (see `RULES`): `render` (PDF/CDA downloads, calendar export, SVG charts, session validation which
generates documents), `search` (list and search endpoints), `sign` (signing). Each bucket holds `burst`
tokens and refills at `per_minute` tokens a minute; a request takes one token, and when none is left it
answers 429 with a French message and `Retry-After` (seconds). Anonymous requests are not counted (they
answer 401 anyway); a token is only taken once the user is identified (bearer token or session cookie).

Configuration (environment, prefix `DCC_RATE_LIMIT_`): `ENABLED` (default true), `RENDER_BURST` /
`RENDER_PER_MINUTE` (30 / 60), `SEARCH_BURST` / `SEARCH_PER_MINUTE` (60 / 120), `SIGN_BURST` /
`SIGN_PER_MINUTE` (10 / 20). The counters live in the process: with several workers, each enforces the
limit on its own (the effective limit is multiplied by the number of workers).

`install_rate_limits(app, limiter)` adds the middleware (innermost, inside the session middleware) and
documents the 429 answer in the OpenAPI description of every limited route.
"""

from __future__ import annotations

import html
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from dcc.errors import DccError

__all__ = ["Bucket", "RateLimitSettings", "RateLimiter", "Rule", "RULES", "install_rate_limits"]

RATE_LIMIT_CODE = "trop_de_requetes"
MAX_KEYS = 10_000  # distinct (user, bucket) pairs kept before idle (full) buckets are dropped


@dataclass(frozen=True)
class Bucket:
    burst: int  # tokens when full: requests allowed in a row
    per_minute: float  # refill rate

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_minute <= 0:
            raise ValueError("a rate limit bucket needs burst >= 1 and per_minute > 0")


@dataclass(frozen=True)
class Rule:
    method: str
    path: str  # route template, e.g. /api/v1/documents/{document_id}/pdf
    bucket: str

    def pattern(self) -> re.Pattern[str]:
        parts = re.split(r"(\{[^}/]+\})", self.path)
        regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts if p)
        return re.compile(f"^{regex}$")


RULES: tuple[Rule, ...] = (
    # rendering and downloads
    Rule("GET", "/api/v1/documents/{document_id}/pdf", "render"),
    Rule("GET", "/api/v1/documents/{document_id}/cda", "render"),
    Rule("GET", "/api/v1/boards/{board_id}/calendar.ics", "render"),
    Rule("POST", "/api/v1/sessions/{session_id}/validate", "render"),  # triggers document generation
    Rule("GET", "/medecin/documents/{document_id}/apercu.pdf", "render"),
    Rule("GET", "/suivi/graphiques/{name}.svg", "render"),  # Vega-Lite rendered to SVG on the server
    # lists and searches
    Rule("GET", "/api/v1/boards", "search"),
    Rule("GET", "/api/v1/sessions", "search"),
    Rule("GET", "/api/v1/deliveries", "search"),
    Rule("GET", "/api/v1/audit", "search"),
    Rule("GET", "/api/v1/audit/fhir", "search"),
    Rule("GET", "/api/v1/audit/alerts", "search"),
    # signing (PAdES: CPU-bound, possibly a smart card or an HSM)
    Rule("POST", "/medecin/a-signer/signer", "sign"),
    Rule("POST", "/api/v1/documents/{document_id}/sign", "sign"),
    Rule("POST", "/api/v1/documents/sign", "sign"),
)


class RateLimitSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DCC_RATE_LIMIT_", extra="ignore")

    enabled: bool = Field(True, description="Rate limits per user on expensive endpoints.")
    render_burst: int = Field(30, ge=1, description="Renderings and downloads in a row.")
    render_per_minute: float = Field(60.0, gt=0, description="Renderings and downloads per minute (refill).")
    search_burst: int = Field(60, ge=1, description="Lists and searches in a row.")
    search_per_minute: float = Field(120.0, gt=0, description="Lists and searches per minute (refill).")
    sign_burst: int = Field(10, ge=1, description="Signing requests in a row.")
    sign_per_minute: float = Field(20.0, gt=0, description="Signing requests per minute (refill).")

    def buckets(self) -> dict[str, Bucket]:
        return {"render": Bucket(self.render_burst, self.render_per_minute),
                "search": Bucket(self.search_burst, self.search_per_minute),
                "sign": Bucket(self.sign_burst, self.sign_per_minute)}


class RateLimiter:
    """Token buckets keyed by (user login, bucket name). Thread-safe; `clock` is monotonic seconds."""

    def __init__(self, buckets: dict[str, Bucket], *, rules: Iterable[Rule] = RULES, enabled: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.buckets = dict(buckets)
        self.rules = tuple(rules)
        unknown = {r.bucket for r in self.rules} - set(self.buckets)
        if unknown:
            raise ValueError(f"rate limit rules name unknown buckets: {sorted(unknown)}")
        self.enabled = enabled
        self.clock = clock
        self._compiled = [(r.method.upper(), r.pattern(), r) for r in self.rules]
        self._state: dict[tuple[str, str], tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: RateLimitSettings | None = None) -> RateLimiter:
        settings = settings or RateLimitSettings()
        return cls(settings.buckets(), enabled=settings.enabled)

    def rule_for(self, method: str, path: str) -> Rule | None:
        method = "GET" if method.upper() == "HEAD" else method.upper()
        for rule_method, pattern, rule in self._compiled:
            if rule_method == method and pattern.match(path):
                return rule
        return None

    def take(self, login: str, bucket_name: str) -> float:
        """Take one token; 0.0 when granted, else the seconds to wait for the next token."""
        bucket = self.buckets[bucket_name]
        rate = bucket.per_minute / 60.0
        key = (login, bucket_name)
        with self._lock:
            now = self.clock()
            tokens, last = self._state.get(key, (float(bucket.burst), now))
            tokens = min(float(bucket.burst), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._state[key] = (tokens - 1.0, now)
                self._prune(now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1.0 - tokens) / rate

    def _prune(self, now: float) -> None:
        if len(self._state) <= MAX_KEYS:
            return
        for key, (tokens, last) in list(self._state.items()):
            bucket = self.buckets[key[1]]
            if tokens + (now - last) * bucket.per_minute / 60.0 >= bucket.burst:
                del self._state[key]

    def reset(self) -> None:
        with self._lock:
            self._state.clear()


def too_many_requests(path: str, retry_after: float) -> Response:
    seconds = max(1, math.ceil(retry_after))
    message = (f"Trop de requêtes : vous avez atteint la limite autorisée pour cette opération. "
               f"Réessayez dans {seconds} seconde{'s' if seconds > 1 else ''}.")
    headers = {"Retry-After": str(seconds)}
    if path.startswith("/api/"):
        return JSONResponse({"code": RATE_LIMIT_CODE, "message": message}, status_code=429, headers=headers)
    page = (f'<!doctype html>\n<html lang="fr"><head><meta charset="utf-8"><title>Trop de requêtes — dcc</title>'
            f"</head><body><main><h1>Trop de requêtes</h1><p>{html.escape(message)}</p></main></body></html>")
    return HTMLResponse(page, status_code=429, headers=headers)


class RateLimitMiddleware:
    """429 when the identified user has no token left in the route's bucket. Must run inside the session
    middleware (the user may come from the session cookie); the user it loads is cached for the route."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limiter.enabled:
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        rule = self.limiter.rule_for(scope.get("method", ""), path)
        if rule is None:
            await self.app(scope, receive, send)
            return
        login = _login(scope)
        if login is not None:
            wait = self.limiter.take(login, rule.bucket)
            if wait > 0:
                await too_many_requests(path, wait)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _login(scope: Scope) -> str | None:
    """The authenticated user's login, or None (anonymous, bad token: the route answers 401)."""
    from dcc.web.auth import optional_user

    try:
        user = optional_user(Request(scope))
    except DccError:
        return None
    return user.login if user is not None else None


RATE_LIMIT_RESPONSE: dict[str, Any] = {
    "description": "Trop de requêtes : limite par utilisateur atteinte (réessayer après `Retry-After` secondes)",
    "headers": {"Retry-After": {"description": "Secondes avant de réessayer", "schema": {"type": "integer"}}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
}


def install_rate_limits(app: FastAPI, limiter: RateLimiter | None = None) -> RateLimiter:
    """Add the rate limit middleware (call before the session middleware is added, so it runs inside it) and
    document 429 on the limited routes of the OpenAPI description. The limiter is `app.state.rate_limiter`."""
    limiter = limiter or RateLimiter.from_settings()
    app.state.rate_limiter = limiter
    app.add_middleware(RateLimitMiddleware, limiter=limiter)
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        if limiter.enabled:
            for path, operations in schema.get("paths", {}).items():
                for method, operation in operations.items():
                    if isinstance(operation, dict) and limiter.rule_for(method, path) is not None:
                        operation.setdefault("responses", {})["429"] = RATE_LIMIT_RESPONSE
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return limiter
