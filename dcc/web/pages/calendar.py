"""Calendars: a signed-in user's subscription URL (a revocable read-only token) and the feed calendar clients
poll with it, without a session cookie. Each board's own .ics link is on its page (coordinator_boards)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from dcc.errors import NotFound
from dcc.services import calendar_tokens
from dcc.web.deps import Now, Uow
from dcc.web.pages._common import ROLE_HOME, CsrfForm, PageRoute, PageUser, redirect, render, require_role

router = APIRouter(prefix="/agenda", route_class=PageRoute, include_in_schema=False)
feed_router = APIRouter(prefix="/agenda", include_in_schema=False)  # no login: the token is the credential
AnyUser = Annotated[PageUser, Depends(require_role(*ROLE_HOME))]


def _page(request: Request, uow: Any, user: PageUser, url: str = "") -> HTMLResponse:
    current = calendar_tokens.subscription(uow, login=user.login)
    return render(request, "calendar/subscription.html.j2", {"subscription": current, "url": url})


@router.get("", response_class=HTMLResponse)
def subscription_page(request: Request, user: AnyUser, uow: Uow) -> Response:
    return _page(request, uow, user)


@router.post("/abonnement", response_class=HTMLResponse)
def subscribe(request: Request, user: AnyUser, uow: Uow, form: CsrfForm) -> Response:
    token = calendar_tokens.create_token(uow, login=user.login)
    url = str(request.base_url).rstrip("/") + f"/agenda/{token}.ics"
    return _page(request, uow, user, url)  # shown once: only the token's hash is kept


@router.post("/revoquer", response_class=HTMLResponse)
def revoke(request: Request, user: AnyUser, uow: Uow, form: CsrfForm) -> Response:
    revoked = calendar_tokens.revoke_tokens(uow, login=user.login)
    return redirect("/agenda", "Abonnement révoqué : l'ancienne adresse ne donne plus rien." if revoked
                    else "Aucun abonnement à révoquer.")


@feed_router.get("/{token}.ics")
def feed(token: str, uow: Uow, now: Now) -> Response:
    """The subscribed agenda (iCalendar), read-only, for calendar clients (no cookie, no CSRF)."""
    try:
        ics = calendar_tokens.feed(uow, token=token[:100], stamp=now)
    except NotFound as exc:
        return Response(exc.message, status_code=404, media_type="text/plain; charset=utf-8",
                        headers={"cache-control": "no-store"})
    return Response(ics, media_type="text/calendar; charset=utf-8",
                    headers={"cache-control": "no-store", "content-disposition": 'inline; filename="agenda-rcp.ics"'})
