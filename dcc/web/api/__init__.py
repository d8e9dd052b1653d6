"""JSON API v1 routers. Handlers are thin: parse, check the user's scope (dcc.services.access), call one
service, shape the answer.

Each router carries its full prefix (not one given at inclusion) so a route's template, as metrics
label it, is its public path. Every route needs an authenticated user (401) and may refuse an action to a
role (403); objects outside the user's scope answer 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dcc.web.api import attachments, audit, boards, cases, deliveries, documents, patients, pps, referentials, sessions
from dcc.web.schemas import ErrorOut

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Authentification requise (jeton absent, invalide ou expiré)"},
    403: {"model": ErrorOut, "description": "Action interdite pour votre rôle"},
}

api_v1 = APIRouter(responses=AUTH_RESPONSES)
for module in (boards, sessions, cases, documents, deliveries, patients, audit, pps, referentials, attachments):
    api_v1.include_router(module.router)
