"""Request dependencies: the database's unit of work, the acting user, today's date (Europe/Paris).

Authentication comes later (OIDC): `get_actor` is the single place that will turn into `current_user`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Request

from dcc.domain.calendar import PARIS
from dcc.services.uow import Database, UnitOfWork


def get_database(request: Request) -> Database:
    db: Database = request.app.state.database
    return db


def get_uow(db: Annotated[Database, Depends(get_database)]) -> Iterator[UnitOfWork]:
    """One unit of work per request; services commit, anything left uncommitted is rolled back."""
    with db.uow() as uow:
        yield uow


def get_actor() -> str:
    """The user the audit log records. Placeholder until authentication (OIDC) is added."""
    return "anonymous"


SessionValidatedHook = Callable[[list[str]], None]


def get_validation_hook(request: Request) -> SessionValidatedHook | None:
    """What to run (in the background) with the case ids of a validated session: document generation."""
    hook: SessionValidatedHook | None = request.app.state.on_session_validated
    return hook


def get_today() -> date:
    return datetime.now(PARIS).date()


Uow = Annotated[UnitOfWork, Depends(get_uow)]
Actor = Annotated[str, Depends(get_actor)]
Today = Annotated[date, Depends(get_today)]
ValidationHook = Annotated[SessionValidatedHook | None, Depends(get_validation_hook)]
