"""Per-user calendar subscriptions: a read-only token in a URL that calendar clients poll without a session
cookie. Only the token's SHA-256 is stored; a user has at most one active token (a new one revokes the old);
revoking it stops the feed at once."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.domain.calendar import SessionEntry, sessions_calendar_ics
from dcc.domain.clock import now_utc
from dcc.errors import NotFound
from dcc.services import access
from dcc.services.audit import record_audit
from dcc.services.uow import UnitOfWork

PAST_DAYS = 90
"""How far back the feed goes (sessions held recently stay in the calendar)."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _app_user(uow: UnitOfWork, login: str) -> m.AppUser:
    user = uow.session.scalars(select(m.AppUser).where(m.AppUser.login == login)).one_or_none()
    if user is None:
        raise NotFound(f"Utilisateur « {login} » introuvable.")
    return user


def _active(uow: UnitOfWork, user_id: str) -> list[m.CalendarToken]:
    return list(uow.session.scalars(select(m.CalendarToken).where(
        m.CalendarToken.user_id == user_id, m.CalendarToken.revoked_at.is_(None))).all())


def create_token(uow: UnitOfWork, *, login: str) -> str:
    """A new subscription token for `login` (the previous one is revoked). Returned once, never stored."""
    user = _app_user(uow, login)
    now = now_utc()
    for old in _active(uow, user.id):
        old.revoked_at = now
    token = secrets.token_urlsafe(32)
    uow.session.add(m.CalendarToken(user_id=user.id, token_hash=_hash(token), created_at=now))
    uow.session.flush()
    record_audit(uow, actor=login, action="calendar_token.create", entity="app_user", entity_id=user.id)
    uow.commit()
    return token


def revoke_tokens(uow: UnitOfWork, *, login: str) -> int:
    """Revoke the user's subscription: calendar clients polling its URL get 404 from now on."""
    user = _app_user(uow, login)
    tokens = _active(uow, user.id)
    now = now_utc()
    for token in tokens:
        token.revoked_at = now
    if tokens:
        record_audit(uow, actor=login, action="calendar_token.revoke", entity="app_user", entity_id=user.id)
    uow.commit()
    return len(tokens)


@dataclass(frozen=True)
class Subscription:
    created_at: datetime


def subscription(uow: UnitOfWork, *, login: str) -> Subscription | None:
    tokens = _active(uow, _app_user(uow, login).id)
    return Subscription(created_at=max(t.created_at for t in tokens)) if tokens else None


def _board_ids(uow: UnitOfWork, user: access.User) -> list[str]:
    """The boards of a user's agenda: those a physician sits on, the boards in scope of the other roles."""
    if user.role == "physician":
        if not user.professional_id:
            return []
        return list(uow.session.scalars(select(m.BoardMember.board_id).where(
            m.BoardMember.professional_id == user.professional_id)).all())
    return [b.id for b in access.visible_boards(uow, user)]


def feed(uow: UnitOfWork, *, token: str, stamp: datetime | None = None) -> bytes:
    """The iCalendar feed of a token's user: the sessions (not cancelled) of their boards from PAST_DAYS ago.
    An unknown or revoked token, or a deactivated user, is NotFound (the same answer for each)."""
    row = uow.session.execute(
        select(m.CalendarToken, m.AppUser, m.Region.code).join(m.AppUser, m.AppUser.id == m.CalendarToken.user_id)
        .outerjoin(m.Region, m.Region.id == m.AppUser.region_id)
        .where(m.CalendarToken.token_hash == _hash(token), m.CalendarToken.revoked_at.is_(None),
               m.AppUser.active.is_(True))).one_or_none()
    if row is None:
        raise NotFound("Abonnement d'agenda inconnu ou révoqué.")
    _, app_user, region_code = row
    user = access.User(login=app_user.login, role=app_user.role, region_code=region_code,  # type: ignore[arg-type]
                       establishment_id=app_user.establishment_id, professional_id=app_user.professional_id,
                       display_name=app_user.display_name)
    boards = repo.boards_by_ids(uow.session, _board_ids(uow, user))
    since = (stamp or now_utc()).astimezone(UTC) - timedelta(days=PAST_DAYS)
    sessions = uow.session.scalars(select(m.Session).where(
        m.Session.board_id.in_(list(boards)), m.Session.status != "cancelled",
        m.Session.starts_at >= since).order_by(m.Session.starts_at)).all()
    entries: list[tuple[str, SessionEntry]] = []
    for s in sessions:
        board = boards[s.board_id]
        entries.append((board.name, (f"{s.id}@dcc", s.starts_at, s.starts_at + timedelta(minutes=board.duration_min),
                                     board.place, board.video_link)))
    return sessions_calendar_ics(f"Mes RCP — {app_user.display_name}", entries, stamp=stamp)
