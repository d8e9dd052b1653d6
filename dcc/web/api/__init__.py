"""JSON API v1 routers. Handlers are thin: parse, call one service, shape the answer.

Each router carries its full prefix (not one given at inclusion) so a route's template, as metrics
label it, is its public path.
"""

from __future__ import annotations

from fastapi import APIRouter

from dcc.web.api import boards, cases, deliveries, documents, sessions

api_v1 = APIRouter()
for module in (boards, sessions, cases, documents, deliveries):
    api_v1.include_router(module.router)
