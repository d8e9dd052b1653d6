"""User-scoped list reads as plain read models: column selects (no ORM objects, no identity map), statements
built once per access filter (`dcc.services.access`: the filters are built once per user) and run on the
session's connection. The lists of the pages and of the JSON API that are read on every visit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, bindparam, select
from sqlalchemy.sql import Select

from dcc.adapters.db import models as m
from dcc.adapters.db.statements import StatementsByFilter
from dcc.services import access
from dcc.services.access import User
from dcc.services.queries import DeliveryView
from dcc.services.uow import UnitOfWork


@dataclass(frozen=True)
class BoardRow:
    """A board as the list of boards shows it (every column of the board)."""

    id: str
    establishment_id: str
    rcp_id: str
    name: str
    kind: str
    appareil_code: str | None
    organe_code: str | None
    transversal_code: str | None
    recours: bool
    pediatric: bool
    recurrence: str
    start_time: str
    duration_min: int
    capacity: int
    deadline_working_days: int
    place: str
    video_link: str
    required_specialties: list[str]
    responsible_id: str
    coordinator_id: str
    active: bool


_BOARD_ROWS = select(*(getattr(m.Board, name) for name in BoardRow.__dataclass_fields__))
_STATEMENTS = StatementsByFilter()


def visible_board_rows(uow: UnitOfWork, user: User) -> list[BoardRow]:
    """`access.visible_boards` as read models, in the same order (by name)."""
    condition = access.board_filter(user)
    q = _STATEMENTS.get(condition, lambda: _BOARD_ROWS.where(condition).order_by(m.Board.name), "rows")
    return [BoardRow(*row) for row in uow.session.connection().execute(q).all()]


@dataclass(frozen=True)
class BoardRef:
    """A board as a list or a menu shows it."""

    id: str
    name: str


def visible_board_refs(uow: UnitOfWork, user: User) -> list[BoardRef]:
    """`access.visible_boards` as (id, name) read models, in the same order."""
    condition = access.board_filter(user)
    q = _STATEMENTS.get(condition, lambda: select(m.Board.id, m.Board.name).where(condition)
                        .order_by(m.Board.name), "refs")
    return [BoardRef(id=id_, name=name) for id_, name in uow.session.connection().execute(q).all()]


_DELIVERY_ROWS = (select(m.OutboxMessage.id, m.OutboxMessage.document_id, m.OutboxMessage.destination,
                         m.OutboxMessage.state, m.OutboxMessage.kind, m.OutboxMessage.hold_reason,
                         m.OutboxMessage.attempts, m.OutboxMessage.last_error, m.OutboxMessage.next_attempt_at,
                         m.OutboxMessage.created_at, m.OutboxMessage.delivered_at, m.Document.unique_id)
                  .join(m.Document, m.Document.id == m.OutboxMessage.document_id))


def _deliveries_statement(condition: ColumnElement[bool], by_state: bool) -> Select[Any]:
    """The list of deliveries under `condition` (a user's filter), with or without a state (the state, limit
    and offset are parameters), built once per filter."""

    def build() -> Select[Any]:
        q: Any = _DELIVERY_ROWS.where(condition)
        if by_state:
            q = q.where(m.OutboxMessage.state == bindparam("state"))
        return q.order_by(m.OutboxMessage.created_at.desc(), m.OutboxMessage.id).limit(
            bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer))

    return _STATEMENTS.get(condition, build, "deliveries", by_state)


def visible_deliveries(uow: UnitOfWork, user: User, *, state: str | None, limit: int,
                       offset: int) -> list[DeliveryView]:
    """The deliveries the user may follow, newest first, as `queries.get_delivery` shows one (read as columns,
    not as ORM objects)."""
    q = _deliveries_statement(access.delivery_filter(user), state is not None)
    rows = uow.session.connection().execute(q, {"state": state, "limit": limit, "offset": offset}).all()
    return [DeliveryView(id=r[0], document_id=r[1], destination=r[2], state=r[3], kind=r[4], hold_reason=r[5] or "",
                         attempts=r[6], last_error=r[7], next_attempt_at=r[8], created_at=r[9], delivered_at=r[10],
                         document_unique_id=str(r[11])) for r in rows]
