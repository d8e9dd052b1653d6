"""Server-rendered pages (French, Jinja2 + htmx): coordinator, physician and regional monitor.

Wiring (in create_app, after install_auth so the session middleware and /login exist):

    from dcc.web.pages import mount_static, pages_router
    app.include_router(pages_router)
    mount_static(app)
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from dcc.web.pages import (
    calendar,
    case_attachments,
    case_documents,
    coordinator,
    coordinator_boards,
    coordinator_cases,
    coordinator_sessions,
    emergency,
    generation,
    meeting,
    monitor,
    monitor_audit,
    monitor_report,
    physician,
    physician_attachments,
    pps,
    proposal_entry_fields,
    referential_suggestions,
)
from dcc.web.pages._common import ROLE_HOME, STATIC_DIR, page_user

pages_router = APIRouter(include_in_schema=False)


@pages_router.get("/")
@pages_router.get("/accueil")
def home(request: Request) -> RedirectResponse:
    """Each role's start page (the login page when nobody is signed in): `/` is for people, not a technical
    page (the API's documentation stays at /docs, health at /healthz)."""
    user = page_user(request)
    if user is None:
        return RedirectResponse("/login?next=/accueil", status_code=303)
    return RedirectResponse(ROLE_HOME.get(user.role, "/suivi/"), status_code=303)


for _module in (coordinator_boards, coordinator_sessions, coordinator_cases, coordinator, meeting, case_documents,
                case_attachments, physician, physician_attachments, monitor, monitor_report, pps, monitor_audit,
                emergency, generation, calendar, referential_suggestions, proposal_entry_fields):
    pages_router.include_router(_module.router)
pages_router.include_router(calendar.feed_router)


def mount_static(app: FastAPI) -> None:
    """Serve dcc/web/static at /static (CSS, JS, vendored htmx)."""
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")


__all__ = ["mount_static", "pages_router"]
