"""User-scoped lookups of the pages, built on the authorisation filters of dcc.services.access (the same the
JSON API applies). An object outside the user's scope is reported as not found (404), never forbidden.
dcc.web.pages._scope re-exports them for the pages."""

from __future__ import annotations

from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.errors import NotFound
from dcc.services import access, list_reads
from dcc.services.access import User
from dcc.services.uow import UnitOfWork


def coordinator_boards(uow: UnitOfWork, user: User) -> list[m.Board]:
    """The boards a coordinator runs (their 3C's boards)."""
    return access.visible_boards(uow, user)


def coordinator_board_refs(uow: UnitOfWork, user: User) -> list[list_reads.BoardRef]:
    """`coordinator_boards` as (id, name) read models (menus and filters)."""
    return list_reads.visible_board_refs(uow, user)


def stats_board_ids(uow: UnitOfWork, user: User) -> list[str]:
    """Boards counted in the indicators: the region's for a monitor, their own for a coordinator."""
    return list(uow.session.scalars(select(m.Board.id).where(access.board_filter(user))).all())


def physician_board_ids(uow: UnitOfWork, user: User) -> set[str]:
    if not user.professional_id:
        return set()
    q = select(m.BoardMember.board_id).where(m.BoardMember.professional_id == user.professional_id)
    return set(uow.session.scalars(q).all())


def session_for_coordinator(uow: UnitOfWork, user: User, session_id: str) -> tuple[m.Session, m.Board]:
    access.require(uow, user, "session", session_id, access.agenda_filter(user))
    s = uow.session.get(m.Session, session_id)
    assert s is not None
    board = uow.session.get(m.Board, s.board_id)
    assert board is not None
    return s, board


def case_for_coordinator(uow: UnitOfWork, user: User, case_id: str) -> tuple[m.Case, m.Board]:
    access.require(uow, user, "case", case_id, access.case_filter(user))
    case = uow.session.get(m.Case, case_id)
    assert case is not None
    board = uow.session.get(m.Board, case.board_id)
    assert board is not None
    return case, board


def case_for_physician(uow: UnitOfWork, user: User, case_id: str) -> m.Case:
    """A case of a board the physician sits on (the decision form)."""
    access.require(uow, user, "case", case_id, access.case_filter(user))
    case = uow.session.get(m.Case, case_id)
    assert case is not None
    if case.board_id not in physician_board_ids(uow, user):
        raise NotFound(f"Dossier « {case_id} » introuvable.")
    return case


def document_to_sign(uow: UnitOfWork, user: User, document_id: str) -> m.Document:
    access.require(uow, user, "document", document_id, access.document_filter(user))
    doc = uow.session.get(m.Document, document_id)
    assert doc is not None
    return doc


def delivery_in_scope(uow: UnitOfWork, user: User, message_id: str) -> m.OutboxMessage:
    access.require(uow, user, "delivery", message_id, access.delivery_filter(user))
    msg = uow.session.get(m.OutboxMessage, message_id)
    assert msg is not None
    return msg


def professional(uow: UnitOfWork, professional_id: str | None) -> m.Professional | None:
    if not professional_id:
        return None
    return uow.session.get(m.Professional, professional_id)


def board_members(uow: UnitOfWork, board_id: str) -> list[m.Professional]:
    return repo.board_members(uow.session, board_id)
