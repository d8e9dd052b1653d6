"""Request dependencies: the database's unit of work, the authenticated user, today's date (Europe/Paris).

`CurrentUser` is the authenticated user (401 without one, see dcc.web.auth); `Actor` is their login, as the
audit log records it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from dcc.domain.calendar import PARIS
from dcc.domain.clock import now_utc
from dcc.domain.ports import CdaBuilder, PdfRenderer
from dcc.services.uow import Database, UnitOfWork
from dcc.web.auth import User, current_user

# The dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in the thread pool, one
# thread hand-over each (a wake-up and a fight for the interpreter lock), which under load cost more CPU than
# the dependency itself.

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def get_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    """One unit of work per request; services commit, anything left uncommitted is rolled back.

    A request that may write starts its transaction as a write transaction (SQLite: `BEGIN IMMEDIATE`, taken
    in the thread pool, waiting at most the busy timeout): its reads and writes then see one state and
    the commit cannot fail half-way on "database is locked". Reads (GET) start deferred and never take the
    write lock; the audit entry of a read gets its own short write transaction (`access.record_read`).

    Opening the unit of work does no I/O (the session connects on its first query): only `BEGIN IMMEDIATE`
    and the final rollback, when a transaction is open, go to the thread pool — the pages' pool (anyio's),
    since an API handler ends its read transaction itself, in its own thread (`routing.in_threadpool`). The
    database is read from the app's state here, not through a dependency of its own: one dependency less to
    resolve on every request."""
    db: Database = request.app.state.database
    uow = db.uow()
    uow.__enter__()
    try:
        if request.method in WRITE_METHODS:
            await run_in_threadpool(uow.begin_write)
        yield uow
    finally:
        if uow.idle():
            uow.__exit__(None, None, None)  # nothing to roll back: no I/O
        else:
            await run_in_threadpool(uow.__exit__, None, None, None)


async def get_actor(user: Annotated[User, Depends(current_user)]) -> str:
    """The login the audit log records for this request's user."""
    return user.login


async def get_today() -> date:
    return datetime.now(PARIS).date()


async def get_now() -> datetime:
    """The real time (aware, UTC): the clock the board services check the session's start against."""
    return now_utc()


def get_document_builders(request: Request) -> tuple[CdaBuilder, PdfRenderer]:
    """The CDA builder and PDF renderer the app was given (`app.state`), else the configured ones: the use
    cases that regenerate documents (identity qualified, *Régénérer*) run them in the request."""
    state = request.app.state
    cda, pdf = getattr(state, "cda_builder", None), getattr(state, "pdf_renderer", None)
    if cda is None or pdf is None:
        from dcc import bootstrap

        cda, pdf = cda or bootstrap.cda_builder(), pdf or bootstrap.pdf_renderer()
    return cda, pdf


async def get_cda_builder(request: Request) -> CdaBuilder:
    """The CDA builder alone (pages that only read documents need no PDF renderer: loading WeasyPrint costs
    about a second of CPU in a process that would not otherwise need it)."""
    cda: CdaBuilder | None = getattr(request.app.state, "cda_builder", None)
    if cda is None:
        from dcc import bootstrap

        cda = bootstrap.cda_builder()
    return cda


Uow = Annotated[UnitOfWork, Depends(get_uow)]
DocumentBuilders = Annotated[tuple[CdaBuilder, PdfRenderer], Depends(get_document_builders)]
CdaBuilderDep = Annotated[CdaBuilder, Depends(get_cda_builder)]
CurrentUser = Annotated[User, Depends(current_user)]
Actor = Annotated[str, Depends(get_actor)]
Today = Annotated[date, Depends(get_today)]
Now = Annotated[datetime, Depends(get_now)]
