"""Coordinator (3C) reads and use cases of the pages: the cases still to assign, the case list with its
filters, editing and withdrawing a case, and the immediate assignment of a newly registered case."""

from __future__ import annotations

from dataclasses import dataclass

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.services.queries import display_name
from dcc.services.uow import UnitOfWork


@dataclass(frozen=True)
class PendingRow:
    case: m.Case
    patient: str
    board: m.Board


def pending_cases(uow: UnitOfWork, board_ids: set[str]) -> list[PendingRow]:
    """The cases waiting for a session on the given boards (oldest first)."""
    rows = [c for c in repo.pending_cases(uow.session) if c.board_id in board_ids]
    patients = repo.patients_by_ids(uow.session, [c.patient_id for c in rows])
    boards = repo.boards_by_ids(uow.session, list({c.board_id for c in rows}))
    return [PendingRow(case=c, patient=display_name(patients[c.patient_id]), board=boards[c.board_id])
            for c in rows]


def professional_by_rpps(uow: UnitOfWork, rpps: str) -> m.Professional | None:
    return repo.professional_by_rpps(uow.session, rpps)
