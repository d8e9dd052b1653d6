"""Shared pieces of the server-rendered pages: templates, the signed-in user, CSRF, French formatting.

Authentication lives in `dcc.web.auth` (optional_user, csrf_token, verify_csrf); authorisation filters in
`dcc.services.access` (the same the JSON API applies).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import Depends, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2_fragments.fastapi import Jinja2Blocks
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from dcc.domain import clock, states
from dcc.errors import DccError
from dcc.services.access import User as PageUser
from dcc.web import auth as _auth

log = logging.getLogger("dcc.web.pages")

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

ROLE_HOME = {"coordinator": "/coordination/", "physician": "/medecin/", "ide": "/pps/", "monitor": "/suivi/",
             "admin": "/suivi/"}
ROLE_LABELS = {"coordinator": "Coordination (3C)", "physician": "Médecin", "ide": "Infirmier(e) de coordination",
               "monitor": "Suivi régional", "admin": "Administration"}

# ------------------------------------------------------------------------------------- formatting

MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre"]
DAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]

SESSION_STATUS = states.labels(states.SessionStatus)
QUORUM = {"met": "atteint", "not_met": "non atteint", "unknown": "non calculé"}
CASE_STATUS = states.labels(states.CaseStatus)
DOC_STATUS = states.labels(states.DocumentStatus)
DELIVERY_STATE = states.labels(states.OutboxState)
ATTENDANCE_MODE = {"present": "présent", "remote": "à distance", "absent": "absent"}
DOC_KIND = {"FRCP": "Fiche RCP", "PPS": "PPS", "N1": "Pièce jointe partagée"}


# Every date and time a person reads is Europe/Paris: instants go through dcc.domain.clock.paris (also the
# `paris` filter) before they are formatted.


def local(dt: datetime | None) -> datetime | None:
    return clock.paris(dt) if dt is not None else None


def fr_date(value: date | datetime | None, *, weekday: bool = False) -> str:
    if value is None:
        return ""
    value = clock.paris_day(value)
    text = f"{value.day} {MONTHS[value.month - 1]} {value.year}"
    return f"{DAYS[value.weekday()]} {text}" if weekday else text


def fr_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    loc = clock.paris(value)
    return f"{fr_date(loc, weekday=True)} à {loc:%H:%M}"


def fr_time(value: datetime | None) -> str:
    return clock.fr_time(value)


def fr_month(value: date) -> str:
    return f"{MONTHS[value.month - 1]} {value.year}"


def fr_number(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}".replace(",", "\u202f").replace(".", ",")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,  # explicitly on for every template, whatever its extension (.html.j2)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship with the code: compiled once, never stat()ed again per request
    )
    from dcc.domain.quorum import requirement_label

    env.filters.update(specialty=requirement_label, fr_date=fr_date, fr_datetime=fr_datetime, fr_time=fr_time,
                       fr_month=fr_month, fr_number=fr_number, paris=clock.paris)
    env.globals.update(SESSION_STATUS=SESSION_STATUS, QUORUM=QUORUM, CASE_STATUS=CASE_STATUS,
                       DOC_STATUS=DOC_STATUS, DELIVERY_STATE=DELIVERY_STATE, ATTENDANCE_MODE=ATTENDANCE_MODE,
                       DOC_KIND=DOC_KIND, ROLE_LABELS=ROLE_LABELS, ROLE_HOME=ROLE_HOME)
    return env


templates = Jinja2Blocks(env=_environment())


# ------------------------------------------------------------------------------------ user, CSRF


class LoginRequired(Exception):
    pass


class PageError(Exception):
    """An error page in French (status 403, 404, 409…)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def page_user(request: Request) -> PageUser | None:
    """The signed-in user (session cookie or bearer token), or None."""
    try:
        return _auth.optional_user(request)
    except (DccError, HTTPException, StarletteHTTPException):
        return None


def _kept_page_user(request: Request) -> PageUser | None:
    """The signed-in user when no database read is needed (see `dcc.web.auth.cached_user`), else None."""
    try:
        return _auth.cached_user(request)
    except (DccError, HTTPException, StarletteHTTPException):
        return None


def require_role(*roles: str) -> Callable[[Request], Coroutine[Any, Any, PageUser]]:
    """Dependency: the signed-in user with one of `roles` (else a login redirect or a French 403 page). On the
    event loop when the account is kept by the process, else read in the thread pool."""

    async def dependency(request: Request) -> PageUser:
        user = _kept_page_user(request) or await run_in_threadpool(page_user, request)
        if user is None:
            raise LoginRequired()
        request.state.page_user = user
        if user.role not in roles:
            raise PageError(403, "Cette page n'est pas accessible avec votre rôle "
                                 f"({ROLE_LABELS.get(user.role, user.role)}).")
        return user

    return dependency


def csrf_token(request: Request) -> str:
    return _auth.csrf_token(request)


async def check_csrf(request: Request) -> dict[str, Any]:
    """Read the posted form and check its CSRF token (field `csrf_token`, or the X-CSRF-Token header)."""
    form = await request.form()
    token = str(form.get("csrf_token") or request.headers.get("x-csrf-token") or "")
    try:
        _auth.verify_csrf(request, token)
    except DccError as exc:
        raise PageError(403, exc.message) from None
    return {key: form.getlist(key) if len(form.getlist(key)) > 1 else form.get(key) for key in form.keys()}


# a form post's fields once its CSRF token is checked (a dependency: the handler itself stays a plain def)
CsrfForm = Annotated[dict[str, Any], Depends(check_csrf)]


def form_list(form: dict[str, Any], key: str) -> list[str]:
    value = form.get(key)
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200,
           block_name: str | None = None, headers: dict[str, str] | None = None) -> HTMLResponse:
    user = getattr(request.state, "page_user", None)
    ctx: dict[str, Any] = {"user": user, "csrf_token": csrf_token(request) if user else "",
                           "path": request.url.path, "flash": request.query_params.get("message", "")}
    ctx.update(context or {})
    kwargs: dict[str, Any] = {"status_code": status_code, "headers": headers}
    if block_name:
        kwargs["block_name"] = block_name
    response: HTMLResponse = templates.TemplateResponse(request, name, ctx, **kwargs)  # type: ignore[assignment]
    response.headers.setdefault("cache-control", "no-store")  # pages carry health data
    return response


def redirect(url: str, message: str = "") -> RedirectResponse:
    if message:
        url += ("&" if "?" in url else "?") + "message=" + quote(message)
    return RedirectResponse(url, status_code=303)


class PageRoute(APIRoute):
    """Turns a missing login into a redirect to /login, and errors into French HTML pages (not JSON)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
            except PageError as exc:
                return render(request, "error.html.j2", {"status": exc.status_code, "message": exc.message},
                              status_code=exc.status_code)
            except DccError as exc:
                return render(request, "error.html.j2", {"status": exc.status_code, "message": exc.message},
                              status_code=exc.status_code)

        return route


def after_validation(session_id: str, summary: Any) -> str:
    """After a session's validation has committed its "documents due" rows: ask the generation deployment
    to run now (best effort: its schedule catches up), and the French message the coordinator reads."""
    from dcc.adapters import orchestration

    orchestration.emit_session_validated(session_id, len(summary.case_ids))
    message = f"Séance validée : {len(summary.case_ids)} décision(s) verrouillée(s)."
    if summary.represented:
        message += (f" Quorum non atteint : aucune fiche RCP ; {len(summary.represented)} dossier(s) "
                    "représenté(s) à une séance ultérieure.")
    if summary.not_discussed:
        message += f" {len(summary.not_discussed)} dossier(s) non discuté(s) renvoyé(s) à l'affectation."
    return message
