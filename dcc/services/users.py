"""Users of the application: the active account behind a login (read on every authenticated request), the
accounts offered by the demo login page, the account of a professional's national id (OpenID Connect)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import bindparam, select

from dcc.adapters.db import models as m
from dcc.services.access import Role, User
from dcc.services.uow import UnitOfWork

# Built once: the statement runs on every authenticated request.
_ACTIVE_USER = (
    select(m.AppUser.login, m.AppUser.role, m.Region.code, m.AppUser.establishment_id, m.AppUser.professional_id,
           m.AppUser.display_name)
    .outerjoin(m.Region, m.Region.id == m.AppUser.region_id)
    .where(m.AppUser.login == bindparam("login"), m.AppUser.active.is_(True))
)


def active_user(uow: UnitOfWork, login: str) -> User | None:
    """The active account `login`, None when it is unknown or deactivated."""
    row = uow.session.execute(_ACTIVE_USER, {"login": login}).one_or_none()
    if row is None:
        return None
    login_, role, region_code, establishment_id, professional_id, display_name = row
    return User(login=login_, role=cast(Role, role), region_code=region_code, establishment_id=establishment_id,
                professional_id=professional_id, display_name=display_name)


@dataclass(frozen=True)
class UserListing:
    login: str
    display_name: str
    role: str
    region_code: str | None


def active_users(uow: UnitOfWork) -> list[UserListing]:
    """Every active account, by role then login (the demo login page)."""
    rows = uow.session.execute(
        select(m.AppUser.login, m.AppUser.display_name, m.AppUser.role, m.Region.code)
        .outerjoin(m.Region, m.Region.id == m.AppUser.region_id)
        .where(m.AppUser.active.is_(True)).order_by(m.AppUser.role, m.AppUser.login)).all()
    return [UserListing(login=str(a), display_name=str(b), role=str(c), region_code=d) for a, b, c, d in rows]


def login_of_professional(uow: UnitOfWork, national_id: str) -> str | None:
    """The login of the active account of the professional whose RPPS is `national_id`, if any."""
    if not national_id:
        return None
    row = uow.session.scalars(
        select(m.AppUser.login).join(m.Professional, m.Professional.id == m.AppUser.professional_id)
        .where(m.Professional.rpps == national_id, m.AppUser.active.is_(True))).one_or_none()
    return str(row) if row is not None else None
